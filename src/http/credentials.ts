import type { IncomingHttpHeaders } from 'node:http'
import { parseCookie } from 'cookie'
import { unsign } from 'cookie-signature'
import { HANDLE_PREFIX, OPAQUE, sessionIdOf } from '../domain/opaque'

/**
 * What a request presents to keyward, read without touching Redis:
 * - `bearer`: a mobile app's `Authorization: Bearer kw_…` session handle;
 * - `bad-bearer`: any other `Authorization` header (never passed on, never a cookie fallback);
 * - `cookie`: the app's session cookie, express-session's `s:<id>.<HMAC>` checked against every
 *   SESSION_SECRET, the way express-session itself checks it; `value` is the cookie as sent;
 * - `undefined`: neither, or a cookie whose signature does not hold.
 * `sessionId` is the id of the token session it opens (`sessionIdOf`): one Redis read at most.
 */
export type Credential =
  | { via: 'bearer'; sessionId: string }
  | { via: 'bad-bearer' }
  | { via: 'cookie'; sessionId: string; value: string }
  | undefined

// The scheme is case-insensitive (RFC 9110 §11.1); the handle is exact.
const BEARER = new RegExp(`^Bearer (${HANDLE_PREFIX}[A-Za-z0-9_-]{43})$`, 'i')

/** How many checked credentials of each kind a process remembers before it starts over. */
const REMEMBERED = 10_000

/** `check`, with its answers for the last values seen remembered (it must be a pure function). */
function remembering<T>(check: (value: string) => T): (value: string) => T {
  const answers = new Map<string, T>()
  return (value) => {
    if (answers.has(value)) return answers.get(value)!
    if (answers.size >= REMEMBERED) answers.clear()
    const answer = check(value)
    answers.set(value, answer)
    return answer
  }
}

/**
 * The credential reader of one app. Checking a credential (an HMAC per secret, a SHA-256) gives the
 * same answer every time, so the answers for the credentials seen lately are remembered: a client's
 * next request costs a map lookup. (What a credential opens is still read from the session store.)
 */
export function credentialReader(cookieName: string, secrets: readonly string[]) {
  const bearer = remembering((authorization): Credential => {
    const handle = BEARER.exec(authorization)?.[1]
    return handle ? { via: 'bearer', sessionId: sessionIdOf(handle) } : { via: 'bad-bearer' }
  })
  const cookie = remembering((signed): Credential => {
    for (const secret of secrets) {
      const id = unsign(signed.slice(2), secret)
      if (id !== false && OPAQUE.test(id)) {
        return { via: 'cookie', sessionId: sessionIdOf(id), value: encodeURIComponent(signed) }
      }
    }
    return undefined
  })

  return function readCredential(headers: IncomingHttpHeaders): Credential {
    if (headers.authorization !== undefined) return bearer(headers.authorization)
    const header = headers.cookie
    if (!header || !header.includes(cookieName)) return undefined
    const signed = parseCookie(header)[cookieName]
    return signed?.startsWith('s:') ? cookie(signed) : undefined
  }
}
