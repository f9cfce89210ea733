import type { IncomingMessage, ServerResponse } from 'node:http'
import type { AppConfig } from '../config/types'
import type { TokenSession } from '../domain/token-session'
import { clearSessionCookie, extendSessionCookie } from './browser-cookie'
import { credentialReader } from './credentials'
import { checkCsrf, checkWebSocketOrigin } from './middleware/csrf'
import { KeywardError } from './problem'

const DAY_MS = 24 * 3600 * 1000

/** Who is calling, and with what: a browser's cookie or a mobile app's session handle. */
export interface Caller {
  session: TokenSession
  via: 'cookie' | 'bearer'
}

export interface CallerDeps {
  app: AppConfig
  /** SESSION_SECRET: the first signs cookies (express-session, at login), all verify them. */
  secrets: readonly string[]
  sessions: {
    get(id: string): Promise<TokenSession | undefined>
    noteCookieExpiry(id: string, expiresAt: number): Promise<void>
  }
  now: () => number
}

export interface CallerCheck {
  /** A state-changing request: a cookie caller must pass the CSRF check. */
  changing: boolean
  /** A WebSocket handshake: a cookie caller's Origin must be allowed (see `checkWebSocketOrigin`). */
  websocket?: boolean
  /** No session is an answer (undefined), not a 401. */
  optional?: boolean
  /**
   * An `Authorization` header that opens no keyward session is no answer either, and no refusal: the
   * host application of the middleware may take bearer tokens of its own.
   */
  lenient?: boolean
}

const invalidToken = (res: ServerResponse, detail: string) => {
  res.setHeader('WWW-Authenticate', 'Bearer error="invalid_token"')
  return new KeywardError('invalid_token', detail)
}

/**
 * The one way every route, the API proxy included, finds its caller: the credential the request
 * presents (see `credentialReader`), then one Redis read of the token session it opens. A bearer
 * request carries no ambient credential, so it needs no CSRF defence and its cookies are not even
 * read. A cookie whose session has ended is cleared. Throws the 401/403 problem, unless `optional`.
 */
export function callerOf(deps: CallerDeps) {
  const { app } = deps
  const readCredential = credentialReader(app.cookie.name, deps.secrets)

  /**
   * An offline ("remember me") session slides with each refresh, but its persistent cookie keeps the
   * expiry it was last given. Re-issue the cookie once the session has moved on by a day (or a tenth of
   * what is left, for short lifetimes): "remember me" then lasts as long as Keycloak keeps the offline
   * session, at the cost of one small write a day, not one a request.
   */
  async function slideRememberMe(res: ServerResponse, session: TokenSession, cookieValue: string): Promise<void> {
    if (session.kind !== 'offline') return
    const lag = session.expiresAt - (session.cookieExpiresAt ?? 0)
    if (lag <= Math.min(DAY_MS, (session.expiresAt - deps.now()) / 10)) return
    extendSessionCookie(res, app.cookie, cookieValue, session.expiresAt)
    await deps.sessions.noteCookieExpiry(session.id, session.expiresAt)
  }

  return async function caller(
    req: IncomingMessage,
    res: ServerResponse,
    check: CallerCheck,
  ): Promise<Caller | undefined> {
    const credential = readCredential(req.headers)
    if (credential?.via === 'bad-bearer') {
      if (check.lenient) return undefined
      throw invalidToken(res, 'Authorization must be: Bearer <session_token>.')
    }
    if (credential?.via === 'bearer') {
      const session = await deps.sessions.get(credential.sessionId)
      if (!session || session.app !== app.id || session.client !== 'mobile') {
        if (check.lenient) return undefined
        throw invalidToken(res, 'This session token is unknown or has ended.')
      }
      return { session, via: 'bearer' }
    }
    if (check.websocket) checkWebSocketOrigin(req, app.allowedOrigins)
    else if (check.changing) checkCsrf(req, app.allowedOrigins)
    const session = credential && (await deps.sessions.get(credential.sessionId))
    // Another app's session (several apps may share one Redis) opens nothing here, and changes nothing.
    if (session && session.app === app.id && session.client === 'web') {
      await slideRememberMe(res, session, credential.value)
      return { session, via: 'cookie' }
    }
    if (credential && !session) {
      // Expired or ended elsewhere: the cookie is useless, drop it.
      clearSessionCookie(res, app.cookie)
      if (check.optional) return undefined
      throw new KeywardError('session_expired', 'The session has ended; log in again.')
    }
    if (check.optional) return undefined
    throw new KeywardError('not_authenticated', 'Not logged in.')
  }
}

export type CallerOf = ReturnType<typeof callerOf>
