import { parseCookie } from 'cookie'
import type { Request, RequestHandler } from 'express'
import type { Store } from 'express-session'
import session from 'express-session'
import type { AppConfig } from '../../config/types'
import { storeUnavailable } from '../../domain/failures'
import { randomOpaque, sessionIdOf } from '../../domain/opaque'
import { openedBy, type NewSession, type TokenSession } from '../../domain/token-session'
import { finishBrowserLogin, finishMobileLogin, takeLoginTransaction, type LoginDeps } from '../../sessions/login'
import { loginBindingName, sessionCookieOptions } from '../browser-cookie'
import type { CallerOf } from '../caller'
import { deviceLabel } from '../device-label'
import { Problem } from '../problem'

export interface CallbackRouteDeps {
  app: AppConfig
  login: LoginDeps
  caller: CallerOf
  /** express-session's store (connect-redis), where the browser's new cookie session is kept. */
  cookieSessionStore: Store
  /** SESSION_SECRET: the first signs the new cookie. */
  secrets: string[]
}

const single = (v: unknown): string | undefined =>
  typeof v === 'string' && v.length > 0 && v.length <= 4096 ? v : undefined

/** express-session's callback API as promises; a store failure is the store being unavailable. */
const storeCall = (call: (done: (err: unknown) => void) => void): Promise<void> =>
  new Promise((resolve, reject) => call((err) => (err ? reject(storeUnavailable(err)) : resolve())))

/**
 * express-session for this route only: it mints the browser's session cookie when a login finishes
 * (a fresh, signed id: no session fixation; the remember-me expiry). Every other request reads the
 * signed cookie itself (http/credentials.ts) and never loads express-session's record.
 */
function cookieSessionMinter(deps: CallbackRouteDeps): RequestHandler {
  const middleware = session({
    name: deps.app.cookie.name,
    secret: deps.secrets,
    genid: randomOpaque,
    store: deps.cookieSessionStore,
    resave: false,
    saveUninitialized: false,
    rolling: false,
    cookie: sessionCookieOptions(deps.app.cookie),
  })
  return function browserSession(req, res, next) {
    middleware(req, res, (err?: unknown) => next(err === undefined ? undefined : storeUnavailable(err)))
  }
}

/** A new cookie session (a fresh id) and the token session it opens, stored; its cookie goes out with the answer. */
async function openBrowserSession(req: Request, deps: CallbackRouteDeps, pending: NewSession): Promise<TokenSession> {
  await storeCall((done) => req.session.regenerate(done))
  const opened: TokenSession = {
    ...openedBy(pending, sessionIdOf(req.sessionID), 'web'),
    cookieSessionId: req.sessionID,
    device: deviceLabel(req.get('user-agent')),
    cookieExpiresAt: pending.kind === 'offline' ? pending.expiresAt : undefined,
  }
  // The cookie session lives as long as the token session; an offline ("remember me") session's
  // cookie persists until then, an online one ends with the browser. Saved here, not only when the
  // answer goes out, so that a Redis blip is retried with the rest of the login.
  req.session.expiresAt = opened.expiresAt
  if (opened.kind === 'offline') req.session.cookie.maxAge = opened.expiresAt - deps.login.now()
  await storeCall((done) => req.session.save(done))
  await deps.login.tokenSessions.create(opened)
  return opened
}

/**
 * GET /auth/callback — consumes the login transaction once and redeems the code. A browser gets a new
 * cookie session pointing at a new token session. A mobile login gets a one-time code at its redirect
 * URI instead, which `POST /auth/token` turns into a session handle.
 */
export function callbackRoute(deps: CallbackRouteDeps): RequestHandler[] {
  const { app } = deps
  return [
    cookieSessionMinter(deps),
    async function finishLoginHandler(req, res) {
      const state = single(req.query.state)
      const error = single(req.query.error)
      if (!state) throw new Problem('invalid_state', 'The callback carries no state; start the login again.')
      if (!error && !single(req.query.code)) {
        throw new Problem('invalid_request', 'The callback carries neither a code nor an error.')
      }
      const binding = parseCookie(req.headers.cookie ?? '')[loginBindingName(app.cookie)] ?? ''
      const tx = await takeLoginTransaction(deps.login, { app: app.id, state, binding })
      const callbackUrl = new URL(app.callbackUrl)
      callbackUrl.search = new URL(req.originalUrl, callbackUrl).search
      const cb = { app: app.id, tx, state, callbackUrl, error: error?.slice(0, 64) }
      if (tx.mobile) {
        res.redirect(302, (await finishMobileLogin(deps.login, cb)).href)
        return
      }
      // The session this browser held before, if any, is retired by the new login.
      const before = await deps.caller(req, res, { changing: false, optional: true }).catch(() => undefined)
      await finishBrowserLogin(deps.login, { ...cb, previous: before?.session }, (pending) =>
        openBrowserSession(req, deps, pending),
      )
      res.redirect(302, tx.returnTo)
    },
  ]
}
