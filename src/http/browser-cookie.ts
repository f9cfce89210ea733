import type { ServerResponse } from 'node:http'
import { stringifySetCookie, type SerializeOptions } from 'cookie'
import type { CookieConfig } from '../config/types'

/** The session cookie's attributes (express-session mints it with these, keyward re-issues and clears it). */
export const sessionCookieOptions = (cookie: CookieConfig) => ({
  httpOnly: true,
  secure: cookie.secure,
  sameSite: cookie.sameSite,
  path: '/',
})

/** The cookie that binds a pending login to the browser that started it (login CSRF defence). */
export const loginBindingName = (cookie: CookieConfig): string => `${cookie.name}-login`

function appendCookie(res: ServerResponse, name: string, value: string, options: SerializeOptions): void {
  // The value is passed as it is: a session cookie's value is re-issued exactly as the browser has it.
  res.appendHeader('Set-Cookie', stringifySetCookie(name, value, { ...options, encode: (v) => v }))
}

export function setLoginBinding(res: ServerResponse, cookie: CookieConfig, value: string, ttlSeconds: number): void {
  // Lax, whatever the session cookie says: it must come along on Keycloak's cross-site redirect back.
  appendCookie(res, loginBindingName(cookie), value, {
    httpOnly: true,
    secure: cookie.secure,
    sameSite: 'lax',
    path: '/',
    maxAge: ttlSeconds,
    expires: new Date(Date.now() + ttlSeconds * 1000), // for browsers that know no Max-Age
  })
}

/**
 * Sets the session cookie to a new, signed session id (`s:<id>.<HMAC>`, as express-session signs it);
 * `expiresAt` makes it outlive the browser (remember me).
 */
export function setSessionCookie(res: ServerResponse, cookie: CookieConfig, signed: string, expiresAt?: number): void {
  const expiry = expiresAt === undefined ? {} : { expires: new Date(expiresAt) }
  appendCookie(res, cookie.name, encodeURIComponent(signed), { ...sessionCookieOptions(cookie), ...expiry })
}

/** Re-issues the session cookie (its `value` as the browser sent it, still encoded) with a new expiry. */
export function extendSessionCookie(res: ServerResponse, cookie: CookieConfig, value: string, expiresAt: number): void {
  appendCookie(res, cookie.name, value, { ...sessionCookieOptions(cookie), expires: new Date(expiresAt) })
}

/** Tells the browser to drop its session cookie (the session is over, or was never there). */
export function clearSessionCookie(res: ServerResponse, cookie: CookieConfig): void {
  appendCookie(res, cookie.name, '', { ...sessionCookieOptions(cookie), expires: new Date(0) })
}
