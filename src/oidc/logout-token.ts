import { errors } from 'jose'
import { Failure, isFailure } from '../domain/failures'
import { verifyRealmToken, type Realm } from './realm-keys'

const BACKCHANNEL_LOGOUT = 'http://schemas.openid.net/event/backchannel-logout'

/** How old a logout token may be (Keycloak's expire two minutes after they are issued)… */
export const LOGOUT_TOKEN_MAX_AGE_SECONDS = 120
/** …and how far the clocks of Keycloak and keyward may disagree. */
export const CLOCK_TOLERANCE_SECONDS = 30

/** What a valid logout token asks: end the Keycloak session `sid`, or every session of `sub`. */
export interface LogoutRequest {
  /** The client it was sent to (its audience). */
  client: string
  sid?: string
  sub?: string
  jti: string
  /** Keycloak's `revoke_offline_access` event: the client's offline sessions end too. */
  revokeOffline: boolean
}

/** A logout token keyward refuses; the message says why, for Keycloak's log (it holds no token). */
export const logoutTokenRefused = (why: string) => new Failure('logout_token_refused', `Logout token refused: ${why}.`)

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)

/**
 * Checks a back-channel logout token (OpenID Connect Back-Channel Logout 1.0, §2.6) sent to an app
 * whose client is one of `clientIds`: signed by the realm, `iss`, `aud`, issued within the last two minutes,
 * the back-channel logout event, no `nonce`, `typ` when present, `sid` or `sub`, and a `jti`. Whether
 * the `jti` was seen before is the caller's business (a replay cache in Redis). Throws
 * `logout_token_refused`, or `keycloak_unavailable` when the realm's keys could not be fetched.
 */
export function logoutTokenVerifier(realm: Realm) {
  return async function verify(token: string, clientIds: string[]): Promise<LogoutRequest> {
    let verified
    try {
      verified = await verifyRealmToken(realm, token, {
        audience: clientIds,
        maxTokenAge: LOGOUT_TOKEN_MAX_AGE_SECONDS,
        clockTolerance: CLOCK_TOLERANCE_SECONDS,
      })
    } catch (err) {
      if (isFailure(err)) throw err
      throw logoutTokenRefused(describe(err))
    }
    const { payload, protectedHeader } = verified
    const typ = protectedHeader.typ?.toLowerCase()
    if (typ !== undefined && typ !== 'logout+jwt' && typ !== 'application/logout+jwt') {
      throw logoutTokenRefused(`typ ${JSON.stringify(protectedHeader.typ)} is not logout+jwt`)
    }
    if (!isObject(payload.events) || !isObject(payload.events[BACKCHANNEL_LOGOUT])) {
      throw logoutTokenRefused(`no ${BACKCHANNEL_LOGOUT} event`)
    }
    if ('nonce' in payload) throw logoutTokenRefused('a logout token carries no nonce')
    const sid = typeof payload.sid === 'string' && payload.sid ? payload.sid : undefined
    const sub = typeof payload.sub === 'string' && payload.sub ? payload.sub : undefined
    if (!sid && !sub) throw logoutTokenRefused('neither sid nor sub')
    if (typeof payload.jti !== 'string' || !payload.jti) throw logoutTokenRefused('no jti')
    const aud = typeof payload.aud === 'string' ? [payload.aud] : (payload.aud ?? [])
    const client = clientIds.find((id) => aud.includes(id))!
    return { client, sid, sub, jti: payload.jti, revokeOffline: payload.events.revoke_offline_access === true }
  }
}

/** jose's reason, in words that name the claim and never the token. */
function describe(err: unknown): string {
  if (err instanceof errors.JWTExpired) return err.claim === 'iat' ? 'issued too long ago (iat)' : 'expired (exp)'
  if (err instanceof errors.JWTClaimValidationFailed) return `${err.claim}: ${err.message}`
  if (err instanceof errors.JWKSNoMatchingKey) return 'signed with a key the realm does not have'
  if (err instanceof errors.JWSSignatureVerificationFailed) return 'the signature does not verify'
  if (err instanceof errors.JOSEAlgNotAllowed) return 'not signed with an algorithm the realm uses'
  return 'not a signed JWT'
}

export type LogoutTokenVerifier = ReturnType<typeof logoutTokenVerifier>
