import type { IncomingHttpHeaders } from 'node:http'
import { parseCookie } from 'cookie'
import { unsign } from 'cookie-signature'
import { HANDLE_PREFIX, OPAQUE } from '../domain/opaque'

/**
 * What a request presents to keyward, read without touching Redis:
 * - `bearer`: a mobile app's `Authorization: Bearer kw_…` session handle;
 * - `bad-bearer`: any other `Authorization` header (never passed on, never a cookie fallback);
 * - `cookie`: the app's session cookie, express-session's `s:<id>.<HMAC>` checked against every
 *   SESSION_SECRET, the way express-session itself checks it; `value` is the cookie as sent;
 * - `undefined`: neither, or a cookie whose signature does not hold.
 * The token session it opens has the id `sessionIdOf(handle)` or `sessionIdOf(id)`: one Redis read.
 */
export type Credential =
  | { via: 'bearer'; handle: string }
  | { via: 'bad-bearer' }
  | { via: 'cookie'; cookieSessionId: string; value: string }
  | undefined

// The scheme is case-insensitive (RFC 9110 §11.1); the handle is exact.
const BEARER = new RegExp(`^Bearer (${HANDLE_PREFIX}[A-Za-z0-9_-]{43})$`, 'i')

export function readCredential(
  headers: IncomingHttpHeaders,
  cookieName: string,
  secrets: readonly string[],
): Credential {
  const { authorization } = headers
  if (authorization !== undefined) {
    const handle = BEARER.exec(authorization)?.[1]
    return handle ? { via: 'bearer', handle } : { via: 'bad-bearer' }
  }
  const header = headers.cookie
  if (!header || !header.includes(cookieName)) return undefined
  const signed = parseCookie(header)[cookieName]
  if (!signed?.startsWith('s:')) return undefined
  for (const secret of secrets) {
    const id = unsign(signed.slice(2), secret)
    if (id !== false && OPAQUE.test(id))
      return { via: 'cookie', cookieSessionId: id, value: encodeURIComponent(signed) }
  }
  return undefined
}
