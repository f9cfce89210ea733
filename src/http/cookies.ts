import type { CookieOptions } from 'express'
import type { CookieConfig } from '../config/load'

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
