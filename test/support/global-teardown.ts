import { execFileSync } from 'node:child_process'
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import { killLeftovers } from '../../harness/processes'
import { RedisServer } from '../../harness/redis-server'

/**
 * Stops the private Redis, and Keycloak if this run started it (KEYWARD_KEEP_KEYCLOAK=1 keeps it).
 * Then no process a test started may be left: whatever is (a test failed, timed out, or forgot to
 * stop it) is killed here, named, and fails the run.
 */
export default async function globalTeardown(): Promise<void> {
  const { KEYWARD_TEST_REDIS_PORT: port, KEYWARD_TEST_REDIS_DIR: dir } = process.env
  if (port && dir) await new RedisServer(Number(port), dir).stop()
  if (process.env.KEYWARD_TEST_STARTED_KEYCLOAK === '1' && process.env.KEYWARD_KEEP_KEYCLOAK !== '1') {
    execFileSync('bash', [join(__dirname, '../../scripts/keycloak.sh'), 'stop'], { stdio: 'inherit' })
  }
  const killed = await killLeftovers()
  if (process.env.KEYWARD_TEST_RUN_DIR) rmSync(process.env.KEYWARD_TEST_RUN_DIR, { recursive: true, force: true })
  if (killed.length) {
    throw new Error(
      `the tests left ${killed.length} process(es) running; the global teardown killed them:\n  ${killed.join('\n  ')}`,
    )
  }
}
