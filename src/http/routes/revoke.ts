import type { RequestHandler } from 'express'
import type { AppContext } from '../context'
import { endSession } from './sessions'

/**
 * POST /auth/revoke — revokes this session's refresh or offline token at Keycloak (RFC 7009) and
 * forgets the session. Unlike logout it leaves Keycloak's SSO session and its other clients alone;
 * for an offline token it is the way to end it. If Keycloak cannot be reached: 503, nothing changed.
 */
export function revoke(ctx: AppContext): RequestHandler {
  return async function revokeSession(req, res) {
    await endSession(ctx, req, res, res.locals.tokenSession!)
    res.set('Cache-Control', 'no-store').json({ revoked: true })
  }
}
