import type { RedisKeys } from './keys'
import { guarded, luaScript } from './redis'
import type { RedisClient } from './topology'

// A fixed window per key: the first hit starts it, the key expires with it.
const HIT = luaScript(`
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return {n, redis.call('PTTL', KEYS[1])}`)

/** Counters shared by every instance, for limits on what anyone may do without a session. */
export function createRateLimits(redis: RedisClient, keys: RedisKeys) {
  return {
    /** Counts one hit on `name`: how many there were in its current window, and when that window ends. */
    async hit(name: string, windowMs: number): Promise<{ count: number; resetInMs: number }> {
      const [count, resetInMs] = (await guarded(HIT(redis, [keys.rateLimit(name)], [windowMs]))) as [number, number]
      return { count, resetInMs }
    },
  }
}

export type RateLimits = ReturnType<typeof createRateLimits>
