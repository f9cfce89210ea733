import { readFileSync } from 'node:fs'
import { join } from 'node:path'

/**
 * Keycloak's Level of Authentication as the demo realm sets it up (keycloak/keyward-demo-realm.json):
 * a browser flow in which level 1 (`silver`) is the password and level 2 (`gold`) an OTP, each with
 * Keycloak's own "Condition - Level of Authentication", and the realm's `acr.loa.map`. The step-up
 * tests make their own realms of the same settings.
 */
const demoRealm = JSON.parse(readFileSync(join(__dirname, '../keycloak/keyward-demo-realm.json'), 'utf8')) as {
  attributes: Record<string, string>
  browserFlow: string
  authenticationFlows: unknown[]
  authenticatorConfig: unknown[]
}

/** The realm's `acr.loa.map`: what keyward's `keycloak.acrLevels` (KEYCLOAK_ACR_LEVELS) is told. */
export const ACR_LOA_MAP = JSON.parse(demoRealm.attributes['acr.loa.map']) as Record<string, number>

/** The realm settings of the step-up: its browser flow, the flow's parts and configs, and `acr.loa.map`. */
export function stepUpRealmSettings(): Record<string, unknown> {
  const { attributes, browserFlow, authenticationFlows, authenticatorConfig } = demoRealm
  return { attributes, browserFlow, authenticationFlows, authenticatorConfig }
}
