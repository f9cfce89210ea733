import { exportPKCS8, generateKeyPair } from 'jose'
import type { KeycloakAdmin } from '../../harness/keycloak-admin'

/** The kid Keycloak signs with now: its active RS256 key of the highest priority. */
export async function activeKid(admin: KeycloakAdmin): Promise<string> {
  const { keys } = await admin.call<{
    keys: { kid: string; algorithm: string; status: string; providerPriority?: number }[]
  }>('GET', '/keys')
  const rs = keys.filter((k) => k.algorithm === 'RS256' && k.status === 'ACTIVE')
  return rs.sort((a, b) => (b.providerPriority ?? 0) - (a.providerPriority ?? 0))[0].kid
}

/**
 * Makes the realm sign with a key the test holds (an imported RSA key above the generated one), so a
 * test can also sign tokens Keycloak never would, checked against the realm's real JWKS.
 */
export async function importSigningKey(admin: KeycloakAdmin): Promise<{ key: CryptoKey; kid: string }> {
  const pair = await generateKeyPair('RS256', { extractable: true })
  await admin.call('POST', '/components', {
    name: 'test-key',
    providerId: 'rsa',
    providerType: 'org.keycloak.keys.KeyProvider',
    config: { priority: ['500'], privateKey: [await exportPKCS8(pair.privateKey)], algorithm: ['RS256'] },
  })
  return { key: pair.privateKey, kid: await activeKid(admin) }
}
