import type { Request, RequestHandler } from 'express'
import type { Store } from 'express-session'
import session from 'express-session'
import type { AppConfig } from '../config/types'
import { storeUnavailable } from '../domain/failures'
import { randomOpaque, sessionIdOf } from '../domain/opaque'
import { openedBy, type NewSession, type TokenSession } from '../domain/token-session'
import { sessionCookieOptions } from './browser-cookie'
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

/** express-session's callback API as promises; a store failure is the store being unavailable. */
const storeCall = (call: (done: (err: unknown) => void) => void): Promise<void> =>
  new Promise((resolve, reject) => call((err) => (err ? reject(storeUnavailable(err)) : resolve())))

/**
 * express-session, only on the routes that open a browser session (a login's callback, a handoff's
 * completion): it mints the session cookie (a fresh, signed id: no session fixation; the remember-me
 * expiry). Every other request reads the signed cookie itself (http/credentials.ts) and never loads
 * express-session's record.
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
  const minter: RequestHandler = function browserSession(req, res, next) {
    middleware(req, res, (err?: unknown) => next(err === undefined ? undefined : storeUnavailable(err)))
  }
  return minter
}

/**
 * A new cookie session (a fresh id) and the token session it opens, stored; its cookie goes out with
 * the answer. Needs `cookieSessionMinter` earlier on the route.
 */
export async function openBrowserSession(
  req: Request,
  deps: BrowserSessionDeps,
  pending: NewSession,
): Promise<TokenSession> {
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
  if (opened.kind === 'offline') req.session.cookie.maxAge = opened.expiresAt - deps.now()
  await storeCall((done) => req.session.save(done))
  await deps.tokenSessions.create(opened)
  return opened
}
