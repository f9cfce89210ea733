import { execFileSync } from 'node:child_process'
import { join } from 'node:path'
import { RedisServer } from './redis-server'

/** Stops the private Redis, and Keycloak if this run started it (KEYWARD_KEEP_KEYCLOAK=1 keeps it). */
export default async function globalTeardown(): Promise<void> {
  const { KEYWARD_TEST_REDIS_PORT: port, KEYWARD_TEST_REDIS_DIR: dir } = process.env
  if (port && dir) await new RedisServer(Number(port), dir).stop()
  if (process.env.KEYWARD_TEST_STARTED_KEYCLOAK === '1' && process.env.KEYWARD_KEEP_KEYCLOAK !== '1') {
    execFileSync('bash', [join(__dirname, '../../scripts/keycloak.sh'), 'stop'], { stdio: 'inherit' })
  }
}
