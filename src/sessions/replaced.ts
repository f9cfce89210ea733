import type { TokenSession } from '../domain/token-session'
import { errorFields } from '../log'
import { revokeSession, type SessionEndDeps } from './session-end'

/**
 * A second login in the same browser replaces the session its cookie pointed at:
 * - another Keycloak session (another `sid`: another user, or Keycloak had forgotten the first): it is
 *   revoked at Keycloak (unless another device still shares it, see `revokeSession`) and forgotten
 *   here, so nothing is left there that nobody holds;
 * - the same Keycloak client session (same `sid` and kind: a single sign-on login again): it is only
 *   forgotten here, because revoking its token would end the new session too;
 * - the same `sid` but the other kind (online and offline): it is kept, no longer behind this cookie,
 *   and listed under /auth/sessions until it is revoked or expires, because revoking one of the pair
 *   at Keycloak could end the other. So is one whose revocation failed.
 */
export async function retireReplaced(
  deps: Pick<SessionEndDeps, 'tokenSessions' | 'oidcFor' | 'log' | 'metrics'>,
  old: TokenSession,
  current: TokenSession,
): Promise<void> {
  const sameKeycloakSession = old.sid !== undefined && old.sid === current.sid
  if (sameKeycloakSession && old.kind !== current.kind) return
  const end = sameKeycloakSession
    ? deps.tokenSessions.delete(old).then(() => deps.metrics.sessionEnded(old.app, old.kind, 'replaced'))
    : revokeSession(deps, old, 'replaced')
  await end.catch((err: unknown) =>
    deps.log.warn(
      { app: old.app, sub: old.sub, error: errorFields(err) },
      'ending the session this login replaced failed; it stays listed',
    ),
  )
}
