import type { Response } from 'express'
import { Router } from 'express'
import type { AppConfig } from '../../config/types'
import type { TokenSession } from '../../domain/token-session'
import { revokeSessions, sessionsOf, type SessionEndDeps } from '../../sessions/session-end'
import { clearSessionCookie } from '../browser-cookie'
import type { Caller, CallerOf } from '../caller'
import { KeywardError } from '../problem'
import { sessionView } from '../session-view'

export interface SessionsRouteDeps {
  app: AppConfig
  caller: CallerOf
  ends: SessionEndDeps
}

/**
 * GET <authPath>/sessions — the caller's sessions and devices, on every app; never a token.
 * DELETE <authPath>/sessions/:id — revokes one; DELETE <authPath>/sessions — revokes all of them.
 */
export function sessionsRoutes(deps: SessionsRouteDeps, path: string): Router {
  /** Revokes `targets`; when the caller's own session is among them, its cookie goes too. */
  async function revoke(res: Response, me: Caller, targets: TokenSession[]): Promise<void> {
    await revokeSessions(deps.ends, targets, 'revoked')
    if (me.via === 'cookie' && targets.some((s) => s.id === me.session.id)) clearSessionCookie(res, deps.app.cookie)
    res.json({ revoked: targets.map((s) => s.id) })
  }

  return Router()
    .get(path, async (req, res) => {
      const me = (await deps.caller(req, res, { changing: false }))!
      const sessions = (await sessionsOf(deps.ends, me.session.sub)).sort((a, b) => b.createdAt - a.createdAt)
      res.json({
        sessions: sessions.map((s) => ({ ...sessionView(s), current: s.id === me.session.id })),
      })
    })
    .delete(`${path}/:id`, async (req, res) => {
      const me = (await deps.caller(req, res, { changing: true }))!
      const target = (await sessionsOf(deps.ends, me.session.sub)).find((s) => s.id === req.params.id)
      if (!target) throw new KeywardError('not_found', 'You have no session with that id.')
      await revoke(res, me, [target])
    })
    .delete(path, async (req, res) => {
      const me = (await deps.caller(req, res, { changing: true }))!
      await revoke(res, me, await sessionsOf(deps.ends, me.session.sub))
    })
}
