import type { IncomingMessage, ServerResponse } from 'node:http'
import { sign } from 'cookie-signature'
import type { Request, RequestHandler } from 'express'
import type { Store } from 'express-session'
import session from 'express-session'
import type { AppConfig } from '../config/types'
import { storeUnavailable } from '../domain/failures'
import { randomOpaque, sessionIdOf } from '../domain/opaque'
import { openedBy, type NewSession, type TokenSession } from '../domain/token-session'
import { sessionCookieOptions, setSessionCookie } from './browser-cookie'
import { deviceLabel } from './device-label'

/** What opening a browser session needs: the app's cookie, express-session's store, the token sessions. */
export interface BrowserSessionDeps {
  app: AppConfig
  /** express-session's store (connect-redis), where the browser's new cookie session is kept. */
  cookieSessionStore: Store
  /** SESSION_SECRET: the first signs the new cookie. */
  secrets: string[]
  tokenSessions: { create(session: TokenSession): Promise<void> }
  now: () => number
}

/** A request as express-session sees it when it works for keyward: its own `session` properties. */
type OwnSession = Pick<Request, 'session' | 'sessionID'>

/** keyward's cookie session of each request a route minted one for (see `cookieSessionMinter`). */
const minted = new WeakMap<IncomingMessage, OwnSession>()

/** express-session's callback API as promises; a store failure is the store being unavailable. */
const storeCall = (call: (done: (err: unknown) => void) => void): Promise<void> =>
  new Promise((resolve, reject) => call((err) => (err ? reject(storeUnavailable(err)) : resolve())))

/**
 * express-session, only on the routes that open a browser session (a login's callback, a handoff's
 * completion): it mints the session cookie's id (a fresh, signed one: no session fixation; the
 * remember-me expiry) and keeps its record (connect-redis). Every other request reads the signed cookie
 * itself (http/credentials.ts) and never loads express-session's record.
 *
 * It runs on a view of the request whose `session`, `sessionID` and `sessionStore` are keyward's own,
 * and on a view of the answer it never writes to: inside a host application that has express-session
 * of its own, `req.session` is the host's, which keyward neither reads nor replaces, and the host's
 * cookie is left alone. keyward sets its own cookie itself (`openBrowserSession`), as express-session
 * would.
 */
export function cookieSessionMinter(deps: Pick<BrowserSessionDeps, 'app' | 'cookieSessionStore' | 'secrets'>) {
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
  const own = { value: undefined, writable: true, enumerable: true }
  const minter: RequestHandler = function browserSession(req, res, next) {
    const view = Object.create(req, { session: own, sessionID: own, sessionStore: own }) as Request
    middleware(view, Object.create(res) as typeof res, (err?: unknown) => {
      if (err !== undefined) return next(storeUnavailable(err))
      minted.set(req, view)
      next()
    })
  }
  return minter
}

/**
 * A new cookie session (a fresh id) and the token session it opens, stored; its cookie goes out with
 * the answer. Needs `cookieSessionMinter` earlier on the route.
 */
export async function openBrowserSession(
  req: Request,
  res: ServerResponse,
  deps: BrowserSessionDeps,
  pending: NewSession,
): Promise<TokenSession> {
  const own = minted.get(req)
  if (!own) throw new Error('openBrowserSession needs cookieSessionMinter earlier on the route')
  await storeCall((done) => own.session.regenerate(done))
  const opened: TokenSession = {
    ...openedBy(pending, sessionIdOf(own.sessionID), 'web'),
    cookieSessionId: own.sessionID,
    device: deviceLabel(req.get('user-agent')),
    cookieExpiresAt: pending.kind === 'offline' ? pending.expiresAt : undefined,
  }
  // The cookie session lives as long as the token session; an offline ("remember me") session's
  // cookie persists until then, an online one ends with the browser. Saved here, not only when the
  // answer goes out, so that a Redis blip is retried with the rest of the login.
  own.session.expiresAt = opened.expiresAt
  if (opened.kind === 'offline') own.session.cookie.maxAge = opened.expiresAt - deps.now()
  await storeCall((done) => own.session.save(done))
  await deps.tokenSessions.create(opened)
  // The cookie express-session would set: its id signed with the first secret.
  setSessionCookie(res, deps.app.cookie, `s:${sign(own.sessionID, deps.secrets[0])}`, opened.cookieExpiresAt)
  return opened
}
