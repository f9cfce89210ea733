import type * as oidc from 'openid-client'
import { keycloakUnavailable } from '../domain/failures'
import type { DPoPKey } from '../domain/token-session'
import { dpopProof } from '../domain/dpop-proof'

/**
 * A form POST to one of Keycloak's endpoints that openid-client makes without a DPoP proof (the
 * revocation endpoint) or not at all (the non-browser logout): the client authenticates as at the
 * token endpoint (a Basic header, or an assertion in the body) and, for a token bound to `dpopKey`,
 * the request carries a proof of that key, which Keycloak asks for. An unreachable Keycloak or its
 * 5xx is `keycloak_unavailable`; any other answer is returned, its body unread.
 */
export async function postAsClient(
  cfg: oidc.Configuration,
  auth: oidc.ClientAuth,
  call: {
    endpoint: string
    body: URLSearchParams
    dpopKey?: DPoPKey
    fetch: oidc.CustomFetch
    timeoutMs: number
  },
): Promise<Response> {
  const headers = new Headers({ 'content-type': 'application/x-www-form-urlencoded' })
  // openid-client types a client auth as returning nothing; private_key_jwt's signs, asynchronously.
  await Promise.resolve(auth(cfg.serverMetadata(), cfg.clientMetadata(), call.body, headers))
  if (call.dpopKey) headers.set('dpop', await dpopProof(call.dpopKey, { method: 'POST', url: call.endpoint }))
  let res: Response
  try {
    res = await call.fetch(call.endpoint, {
      method: 'POST',
      headers: Object.fromEntries(headers),
      body: call.body,
      redirect: 'manual',
      signal: AbortSignal.timeout(call.timeoutMs),
    })
  } catch (err) {
    throw keycloakUnavailable(err)
  }
  if (res.status >= 500) {
    await res.body?.cancel()
    throw keycloakUnavailable(new Error(`Keycloak answered ${res.status} at ${call.endpoint}`))
  }
  return res
}
