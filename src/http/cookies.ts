import type { CookieOptions, Request } from 'express'
import type { CookieConfig } from '../config/load'
import type { TokenSession } from '../tokens/token-session'

/** The cookie that binds a pending login to the browser that started it (login CSRF defence). */
export function loginBindingCookie(cookie: CookieConfig, ttlSeconds: number): { name: string; options: CookieOptions } {
  return {
    name: `${cookie.name}-login`,
    // Lax, whatever the session cookie says: it must come along on Keycloak's cross-site redirect back.
    options: { httpOnly: true, secure: cookie.secure, sameSite: 'lax', path: '/', maxAge: ttlSeconds * 1000 },
  }
}

export function sessionCookieOptions(cookie: CookieConfig): CookieOptions {
  return { httpOnly: true, secure: cookie.secure, sameSite: cookie.sameSite, path: '/' }
}

/**
 * Points the browser's cookie session at a token session's expiry: its Redis TTL follows it, and an
 * offline ("remember me") session's cookie persists until then; an online one ends with the browser.
 */
export function followTokenSession(req: Request, session: TokenSession, now: number): void {
  req.session.expiresAt = session.expiresAt
  if (session.kind === 'offline') req.session.cookie.maxAge = session.expiresAt - now
}
