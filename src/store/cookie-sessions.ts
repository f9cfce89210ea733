import { RedisStore } from 'connect-redis'
import type { SessionData } from 'express-session'
import type { RedisKeys } from './keys'
import type { RedisClient } from './topology'

declare module 'express-session' {
  interface SessionData {
    /** Epoch ms when the token session expires; the cookie session's Redis TTL follows it. */
    expiresAt: number
  }
}

/**
 * express-session's store, for the browser's cookie session: express-session mints it when a login
 * finishes, and it lives exactly as long as the token session it opens (whose id is the SHA-256 of
 * this session's id). Requests do not read it: they find the token session from the signed cookie
 * itself (http/credentials.ts). Touch is off; the token session store moves its expiry and deletes it.
 */
export function createCookieSessionStore(
  redis: RedisClient,
  keys: RedisKeys,
  now: () => number = Date.now,
): RedisStore {
  return new RedisStore({
    client: redis,
    prefix: keys.cookieSessionPrefix,
    disableTouch: true,
    ttl: (sess: SessionData) => Math.max(1, Math.ceil((sess.expiresAt - now()) / 1000)),
  })
}
