import { RedisStore } from 'connect-redis'
import type { SessionData } from 'express-session'
import type { Redis } from 'ioredis'
import type { RedisKeys } from './keys'

declare module 'express-session' {
  interface SessionData {
    /** The token session this browser session points at. */
    tokenSessionId: string
    /** Epoch ms when the token session expires; the cookie session's Redis TTL follows it. */
    expiresAt: number
  }
}

/**
 * express-session's store: holds only a pointer to the token session. Touch is off, so reading a
 * session costs no Redis write; the record expires with its token session.
 */
export function createCookieSessionStore(redis: Redis, keys: RedisKeys, now: () => number = Date.now): RedisStore {
  return new RedisStore({
    client: redis,
    prefix: keys.cookieSessionPrefix,
    disableTouch: true,
    ttl: (sess: SessionData) => Math.max(1, Math.ceil((sess.expiresAt - now()) / 1000)),
  })
}
