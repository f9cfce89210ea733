import { Router, type Request, type RequestHandler, type Response } from 'express'
import { Problem } from '../../errors'
import { revokeSession } from '../../tokens/session-end'
import type { TokenSession } from '../../tokens/token-session'
import { sessionCookieOptions } from '../cookies'
import { destroySession, type AppContext } from '../context'

const iso = (ms: number) => new Date(ms).toISOString()

/** Revokes one of the caller's sessions (see `revokeSession`); the caller's own also loses its cookie. */
export async function endSession(ctx: AppContext, req: Request, res: Response, s: TokenSession): Promise<void> {
  await revokeSession(ctx, s)
  if (s.id === res.locals.tokenSession?.id && !res.locals.viaBearer) {
    if (req.session) await destroySession(req)
    res.clearCookie(ctx.app.cookie.name, sessionCookieOptions(ctx.app.cookie))
  }
  ctx.log.info({ app: s.app, sub: s.sub, kind: s.kind }, 'revoked')
}

/**
 * GET /auth/sessions — the caller's sessions and devices, on every app; never a token.
 * DELETE /auth/sessions/:id — revokes one; DELETE /auth/sessions — revokes all of them.
 * `lastUsedAt` is when the session last refreshed, which it does only when used: it is accurate to
 * one access-token lifetime, and costs no write per request.
 */
export function sessionRoutes(ctx: AppContext, guards: { reading: RequestHandler[]; changing: RequestHandler[] }): Router {
  const mine = (res: Response) => ctx.tokenSessions.listBySub(res.locals.tokenSession!.sub)
  return Router()
    .get('/auth/sessions', ...guards.reading, async (_req, res) => {
      const current = res.locals.tokenSession!.id
      const sessions = (await mine(res)).sort((a, b) => b.createdAt - a.createdAt)
      res.set('Cache-Control', 'no-store').json({
        sessions: sessions.map((s) => ({
          id: s.id,
          current: s.id === current,
          app: s.app,
          kind: s.kind,
          client: s.handleHash ? 'mobile' : 'web',
          device: s.device ?? null,
          createdAt: iso(s.createdAt),
          lastUsedAt: iso(s.refreshedAt),
          expiresAt: iso(s.expiresAt),
        })),
      })
    })
    .delete('/auth/sessions/:id', ...guards.changing, async (req, res) => {
      const target = (await mine(res)).find((s) => s.id === req.params.id)
      if (!target) throw new Problem('not_found', 'You have no session with that id.')
      await endSession(ctx, req, res, target)
      res.set('Cache-Control', 'no-store').json({ revoked: [target.id] })
    })
    .delete('/auth/sessions', ...guards.changing, async (req, res) => {
      const all = await mine(res)
      // One at a time: if Keycloak goes away midway, the answer is 503 and a retry finishes the rest.
      for (const s of all) await endSession(ctx, req, res, s)
      res.set('Cache-Control', 'no-store').json({ revoked: all.map((s) => s.id) })
    })
}
