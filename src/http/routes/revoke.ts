import type { RequestHandler } from 'express'
import type { AppConfig } from '../../config/types'
import { revokeSessions, type SessionEndDeps } from '../../sessions/session-end'
import { clearSessionCookie } from '../browser-cookie'
import type { CallerOf } from '../caller'

/**
 * POST /auth/revoke — revokes this session's refresh or offline token at Keycloak (RFC 7009) and
 * forgets the session. Unlike logout it leaves Keycloak's SSO session and its other clients alone;
 * for an offline token it is the way to end it. If Keycloak cannot be reached: 503, nothing changed.
 */
export function revokeRoute(deps: { app: AppConfig; caller: CallerOf; ends: SessionEndDeps }): RequestHandler {
  return async function revokeHandler(req, res) {
    const me = (await deps.caller(req, res, { changing: true }))!
    await revokeSessions(deps.ends, [me.session], 'revoked')
    if (me.via === 'cookie') clearSessionCookie(res, deps.app.cookie)
    res.json({ revoked: true })
  }
}
