import { execFileSync } from 'node:child_process'
import { join } from 'node:path'

/**
 * The process group of the Keycloak that scripts/keycloak.sh started, or undefined for an external
 * one (KEYCLOAK_URL), where outage tests cannot run.
 */
export function keycloakProcessGroup(): number | undefined {
  if (process.env.KEYCLOAK_URL) return undefined
  try {
    return Number(execFileSync('bash', [join(__dirname, '../../scripts/keycloak.sh'), 'pid']).toString().trim()) || undefined
  } catch {
    return undefined
  }
}

/**
 * Freezes Keycloak (SIGSTOP) while `during` runs: connections are accepted by the kernel but never
 * answered, the way a hung or partitioned server behaves. Other suites only see slower answers.
 */
export async function withKeycloakFrozen<T>(during: () => Promise<T>): Promise<T> {
  const pgid = keycloakProcessGroup()
  if (!pgid) throw new Error('no Keycloak process started by scripts/keycloak.sh')
  process.kill(-pgid, 'SIGSTOP')
  try {
    return await during()
  } finally {
    process.kill(-pgid, 'SIGCONT')
  }
}
