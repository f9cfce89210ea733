import type { RequestHandler } from 'express'

const iso = (ms: number | undefined) => (ms === undefined ? null : new Date(ms).toISOString())

/** GET /auth/session — who is logged in and when things expire; never a token. */
export const sessionInfo: RequestHandler = function describeSession(_req, res) {
  const s = res.locals.tokenSession!
  res.set('Cache-Control', 'no-store').json({
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
