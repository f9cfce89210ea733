import { execFileSync } from 'node:child_process'
import { join } from 'node:path'

/**
 * The process group of the Keycloak that scripts/keycloak.sh started, or undefined for an external
 * one (KEYCLOAK_URL), where outage tests cannot run.
 */
export function keycloakProcessGroup(): number | undefined {
  if (process.env.KEYCLOAK_URL) return undefined
  try {
    return (
      Number(
        execFileSync('bash', [join(__dirname, '../scripts/keycloak.sh'), 'pid'])
          .toString()
          .trim(),
      ) || undefined
    )
  } catch {
    return undefined
  }
}
