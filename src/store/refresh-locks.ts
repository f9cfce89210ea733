import { randomBytes } from 'node:crypto'
import type { RedisKeys } from './keys'
import { guarded, luaScript } from './redis'
import type { RedisClient } from './topology'

// Deletes the lock only if it still holds our fencing value: a holder whose lock expired and was
// taken by another instance must not release the new holder's lock.
const RELEASE = luaScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`)

/**
 * One refresh per token session across all instances: `SET NX PX` with a random fencing value. The TTL
 * bounds how long a crashed holder can block the others.
 */
export function createRefreshLocks(redis: RedisClient, keys: RedisKeys, ttlMs: number) {
  return {
    /** The fencing value when the lock was taken, undefined when another instance holds it. */
    async acquire(sessionId: string): Promise<string | undefined> {
      const fence = randomBytes(16).toString('base64url')
      const taken = await guarded(redis.set(keys.refreshLock(sessionId), fence, 'PX', ttlMs, 'NX'))
      return taken === 'OK' ? fence : undefined
    },
    async release(sessionId: string, fence: string): Promise<void> {
      await guarded(RELEASE(redis, [keys.refreshLock(sessionId)], [fence]))
    },
  }
}

export type RefreshLocks = ReturnType<typeof createRefreshLocks>
