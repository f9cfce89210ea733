import session, { type Store } from 'express-session'
import type { RequestHandler } from 'express'
import type { AppConfig } from '../../config/load'
import { unavailable } from '../../errors'
import { sessionCookieOptions } from '../cookies'

/**
 * express-session for one app's browser cookie. It only points at a token session; a store failure
 * becomes a 503 (never "logged out"), and nothing is written for visitors who are not logged in.
 */
export function cookieSession(app: AppConfig, store: Store, secrets: string[]): RequestHandler {
  const middleware = session({
    name: app.cookie.name,
    secret: secrets,
    store,
    resave: false,
    saveUninitialized: false,
    rolling: false,
    cookie: sessionCookieOptions(app.cookie),
  })
  return function browserSession(req, res, next) {
    middleware(req, res, (err?: unknown) => next(err === undefined ? undefined : unavailable('store', err)))
  }
}
