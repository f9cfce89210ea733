import { execFileSync, spawnSync } from 'node:child_process'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { RedisServer } from '../../harness/redis-server'

const script = join(__dirname, '../../scripts/keycloak.sh')

/**
 * Starts what the suites need, once: Keycloak (reused if scripts/keycloak.sh already runs one, or
 * KEYCLOAK_URL for an external one) and a private redis-server (or REDIS_URL for an existing one).
 * Workers inherit what is written to process.env here, including the folder where every process the
 * tests start is registered (test/support/processes.ts).
 */
export default async function globalSetup(): Promise<void> {
  process.env.KEYWARD_TEST_RUN_DIR = mkdtempSync(join(tmpdir(), 'keyward-test-run-'))
  const kcRunning = spawnSync('bash', [script, 'status'], { stdio: 'ignore' }).status === 0
  const keycloakUrl = execFileSync('bash', [script, 'start'], { stdio: ['ignore', 'pipe', 'inherit'] })
    .toString()
    .trim()
    .split('\n')
    .pop()!
  process.env.KEYWARD_TEST_KEYCLOAK_URL = keycloakUrl
  process.env.KEYWARD_TEST_STARTED_KEYCLOAK = !process.env.KEYCLOAK_URL && !kcRunning ? '1' : ''

  if (process.env.REDIS_URL) {
    process.env.KEYWARD_TEST_REDIS_URL = process.env.REDIS_URL
  } else {
    const redis = await RedisServer.create()
    await redis.start()
    process.env.KEYWARD_TEST_REDIS_URL = redis.url
    process.env.KEYWARD_TEST_REDIS_PORT = String(redis.port)
    process.env.KEYWARD_TEST_REDIS_DIR = redis.dir
  }
}
