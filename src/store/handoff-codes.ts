import type { Redis } from 'ioredis'
import { digest } from '../domain/opaque'
import type { RedisKeys } from './keys'
import { guarded, luaScript } from './redis'

/** What a handoff code stands for: the session handed over, and the one app that may take it. */
export interface Handoff {
  /** The token session it is handed from. */
  sourceId: string
  /** The app it is handed to. */
  target: string
  /** A path on the target app to land on. */
  returnTo: string
}

export type TakeResult = { ok: true; handoff: Handoff } | { ok: false; reason: 'unknown' | 'other_app' }

// Only the target app takes the code, once; another app's attempt leaves it to the target.
const TAKE = luaScript(`
local h = redis.call('HMGET', KEYS[1], 's', 't', 'r')
if not h[1] then return 0 end
if h[2] ~= ARGV[1] then return 1 end
redis.call('DEL', KEYS[1])
return h`)

/**
 * One-time handoff codes: kept under their SHA-256 for a few seconds, bound to the target app. A code
 * holds no token, only which session it hands over (that session's id opens nothing by itself).
 */
export function createHandoffCodeStore(redis: Redis, keys: RedisKeys, ttlSeconds: number) {
  return {
    async create(code: string, handoff: Handoff): Promise<void> {
      const k = keys.handoffCode(digest(code))
      await guarded(
        redis
          .multi()
          .hset(k, { s: handoff.sourceId, t: handoff.target, r: handoff.returnTo })
          .expire(k, ttlSeconds)
          .exec(),
      )
    },

    async take(code: string, app: string): Promise<TakeResult> {
      const result = await guarded(TAKE(redis, [keys.handoffCode(digest(code))], [app]))
      if (result === 0) return { ok: false, reason: 'unknown' }
      if (result === 1) return { ok: false, reason: 'other_app' }
      const [sourceId, target, returnTo] = result as string[]
      return { ok: true, handoff: { sourceId, target, returnTo } }
    },
  }
}

export type HandoffCodeStore = ReturnType<typeof createHandoffCodeStore>
