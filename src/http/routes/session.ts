import type { RequestHandler } from 'express'
import type { CallerOf } from '../caller'

const iso = (ms: number | undefined) => (ms === undefined ? null : new Date(ms).toISOString())

/** GET /auth/session — who is logged in and when things expire; never a token. */
export function sessionRoute(deps: { caller: CallerOf }): RequestHandler {
  return async function describeSession(req, res) {
    const { session: s } = (await deps.caller(req, res, { changing: false }))!
    res.json({
      authenticated: true,
      app: s.app,
      kind: s.kind,
      user: s.claims,
      accessTokenExpiresAt: iso(s.accessExpiresAt),
      refreshTokenExpiresAt: iso(s.refreshExpiresAt),
      sessionExpiresAt: iso(s.expiresAt),
      createdAt: iso(s.createdAt),
      refreshedAt: iso(s.refreshedAt),
    })
  }
}
