import type { IncomingMessage, ServerResponse } from 'node:http'
import { Router } from 'express'
import type { AppConfig } from '../../config/types'
import { OPAQUE } from '../../domain/opaque'
import { isFailure } from '../../domain/failures'
import { revokeSessions, sessionsOf, type SessionEndDeps } from '../../sessions/session-end'
import { KeywardError } from '../problem'
import { sessionView } from '../session-view'

export interface AdminRouteDeps {
  app: AppConfig
  ends: SessionEndDeps
  /** Who the admin presenting `token` is; throws `admin_token_refused` or `admin_role_missing`. */
  adminOf: (token: string, clientId: string, role: string) => Promise<string>
  /** The role of the app's client an admin's token must carry (ADMIN_ROLE). */
  adminRole: string
}

const JWT = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/
// Keycloak's user ids are UUIDs; users from a federation may have other ids, never these characters.
const SUB = /^[^\s/\\?#%\p{Cc}]{1,255}$/u

/**
 * Revocation by an administrator, for every app's sessions, under `path` (/admin on the server):
 * GET …/users/:sub/sessions, POST …/users/:sub/logout (every session of the user, online and offline, revoked at Keycloak
 * and forgotten here), DELETE …/sessions/:id. The caller presents a Keycloak access token with
 * the app's client role ADMIN_ROLE (`Authorization: Bearer`); a cookie, or a mobile session handle,
 * opens nothing here.
 */
export function adminRoutes(deps: AdminRouteDeps, path: string): Router {
  async function admin(req: IncomingMessage, res: ServerResponse): Promise<string> {
    const [scheme, token, ...rest] = (req.headers.authorization ?? '').split(' ')
    if (scheme?.toLowerCase() !== 'bearer' || !token || rest.length || !JWT.test(token)) {
      res.setHeader('WWW-Authenticate', 'Bearer')
      throw new KeywardError(
        'not_authenticated',
        'An admin route needs a Keycloak access token: Authorization: Bearer <token>.',
      )
    }
    try {
      return await deps.adminOf(token, deps.app.clientId, deps.adminRole)
    } catch (err) {
      if (isFailure(err, 'admin_token_refused')) res.setHeader('WWW-Authenticate', 'Bearer error="invalid_token"')
      if (isFailure(err, 'admin_role_missing')) res.setHeader('WWW-Authenticate', 'Bearer error="insufficient_scope"')
      throw err
    }
  }

  const subOf = (value: string): string => {
    if (!SUB.test(value)) throw new KeywardError('invalid_request', 'The user id (sub) is malformed.')
    return value
  }

  return Router()
    .get(`${path}/users/:sub/sessions`, async (req, res) => {
      await admin(req, res)
      const sessions = await sessionsOf(deps.ends, subOf(req.params.sub))
      res.json({ sessions: sessions.sort((a, b) => b.createdAt - a.createdAt).map(sessionView) })
    })
    .post(`${path}/users/:sub/logout`, async (req, res) => {
      const who = await admin(req, res)
      const sub = subOf(req.params.sub)
      const targets = await sessionsOf(deps.ends, sub)
      await revokeSessions(deps.ends, targets, 'admin')
      deps.ends.log.info({ admin: who, sub, revoked: targets.length }, 'admin logged a user out')
      res.json({ revoked: targets.map((s) => s.id) })
    })
    .delete(`${path}/sessions/:id`, async (req, res) => {
      const who = await admin(req, res)
      if (!OPAQUE.test(req.params.id)) throw new KeywardError('invalid_request', 'The session id is malformed.')
      const target = await deps.ends.tokenSessions.get(req.params.id)
      if (!target) throw new KeywardError('not_found', 'There is no live session with that id.')
      await revokeSessions(deps.ends, [target], 'admin')
      deps.ends.log.info({ admin: who, sub: target.sub }, 'admin revoked a session')
      res.json({ revoked: [target.id] })
    })
}
