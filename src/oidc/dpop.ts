import { generateKeyPairSync } from 'node:crypto'
import { importJWK } from 'jose'
import * as oidc from 'openid-client'
import type { DPoPKey, TokenGrant } from '../domain/token-session'
import type { KeycloakConnection } from './connection'
import { toGrant } from './grant'

/** A new P-256 key pair for a session's DPoP proofs (ES256, as Keycloak and FAPI 2.0 take). */
export function newDPoPKey(): DPoPKey {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  const { x, y, d } = privateKey.export({ format: 'jwk' })
  return { x: x!, y: y!, d: d! }
}

/**
 * openid-client's DPoP handle for one request to Keycloak with `key`: it signs the proof and, when
 * Keycloak asks for a nonce (`use_dpop_nonce`), retries the request once with it.
 */
export async function dpopHandle(config: oidc.Configuration, key: DPoPKey): Promise<oidc.DPoPHandle> {
  const publicJwk = { kty: 'EC', crv: 'P-256', x: key.x, y: key.y }
  const [privateKey, publicKey] = await Promise.all([
    importJWK({ ...publicJwk, d: key.d }, 'ES256'),
    importJWK(publicJwk, 'ES256', { extractable: true }),
  ])
  return oidc.getDPoPHandle(config, { privateKey, publicKey } as CryptoKeyPair)
}

type TokenAnswer = oidc.TokenEndpointResponse & oidc.TokenEndpointResponseHelpers

/**
 * Grants made as the client (`asClient`), each with the proof of a key when there is one: `key` (a
 * session's), or a new one when `dpop` (the client binds tokens) and the session has none yet. The
 * grant names the key its tokens are bound to (`TokenGrant.dpopKey`); bearer grants carry no proof.
 */
export function grantsAsClient(asClient: KeycloakConnection['asClient'], dpop: boolean) {
  return async function granted(
    key: DPoPKey | undefined,
    grant: (cfg: oidc.Configuration, proof: oidc.DPoPOptions | undefined) => Promise<TokenAnswer>,
    refused?: (err: unknown) => boolean,
  ): Promise<TokenGrant> {
    const requestedAt = Date.now()
    const dpopKey = key ?? (dpop ? newDPoPKey() : undefined)
    const res = await asClient(
      async (cfg) => grant(cfg, dpopKey ? { DPoP: await dpopHandle(cfg, dpopKey) } : undefined),
      refused,
    )
    const result = toGrant(res, requestedAt)
    return dpopKey ? { ...result, dpopKey } : result
  }
}
