import { parseCookie } from 'cookie'
import type { RequestHandler } from 'express'
import type { Store } from 'express-session'
import type { AppConfig } from '../../config/types'
import { finishBrowserLogin, finishMobileLogin, takeLoginTransaction, type LoginDeps } from '../../sessions/login'
import { loginBindingName } from '../browser-cookie'
import { cookieSessionMinter, openBrowserSession } from '../browser-session'
import type { CallerOf } from '../caller'
import { KeywardError } from '../problem'

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

/** `returnTo` with `error` (Keycloak's code: letters and underscores alone) added to its query. */
function withError(returnTo: string, error: string, origin: URL): string {
  const url = new URL(returnTo, origin)
  url.searchParams.set('error', /^[a-z_]{1,64}$/.test(error) ? error : 'login_failed')
  return `${url.pathname}${url.search}${url.hash}`
}

/**
 * GET /auth/callback — consumes the login transaction once and redeems the code. A browser gets a new
 * cookie session pointing at a new token session. A mobile login gets a one-time code at its redirect
 * URI instead, which `POST /auth/token` turns into a session handle.
 */
export function callbackRoute(deps: CallbackRouteDeps): RequestHandler[] {
  const { app } = deps
  const browser = { ...deps, tokenSessions: deps.login.tokenSessions, now: deps.login.now }
  return [
    cookieSessionMinter(deps),
    async function finishLoginHandler(req, res) {
      const state = single(req.query.state)
      const error = single(req.query.error)
      if (!state) throw new KeywardError('invalid_state', 'The callback carries no state; start the login again.')
      if (!error && !single(req.query.code)) {
        throw new KeywardError('invalid_request', 'The callback carries neither a code nor an error.')
      }
      const binding = parseCookie(req.headers.cookie ?? '')[loginBindingName(app.cookie)] ?? ''
      const tx = await takeLoginTransaction(deps.login, { app: app.id, state, binding })
      const callbackUrl = new URL(app.callbackUrl)
      callbackUrl.search = new URL(req.originalUrl, callbackUrl).search
      const cb = { app: app.id, tx, state, callbackUrl, error: error?.slice(0, 64) }
      if (error && tx.silent && !tx.mobile) {
        // A silent login Keycloak could not finish without the user (login_required, …): the app hears it.
        res.redirect(302, withError(tx.returnTo, error, app.publicUrl))
        return
      }
      if (tx.mobile) {
        res.redirect(302, (await finishMobileLogin(deps.login, cb)).href)
        return
      }
      // The session this browser held before, if any, is retired by the new login.
      const before = await deps.caller(req, res, { changing: false, optional: true }).catch(() => undefined)
      await finishBrowserLogin(deps.login, { ...cb, previous: before?.session }, (pending) =>
        openBrowserSession(req, res, browser, pending),
      )
      res.redirect(302, tx.returnTo)
    },
  ]
}
