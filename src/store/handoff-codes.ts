import { digest } from '../domain/opaque'
import type { RedisKeys } from './keys'
import { guarded, luaScript } from './redis'
import type { RedisClient } from './topology'

/** What a handoff code stands for: the session handed over, and the one app that may take it. */
export interface Handoff {
  /** The token session it is handed from. */
  sourceId: string
  /** The app it is handed to. */
  target: string
  /** A path on the target app to land on (a web app). */
  returnTo: string
  /** A mobile app's proof: only the holder of the verifier of this challenge, at this redirect URI, takes it. */
  mobile?: { codeChallenge: string; redirectUri: string }
}

export type TakeResult = { ok: true; handoff: Handoff } | { ok: false; reason: 'unknown' | 'mismatch' }

// Only the target app takes the code, once, and for a mobile app only with its proof; any other attempt
// leaves the code to its rightful taker. A web app's code has no proof, and is taken without one.
const TAKE = luaScript(`
local h = redis.call('HMGET', KEYS[1], 's', 't', 'r', 'c', 'u')
if not h[1] then return 0 end
if h[2] ~= ARGV[1] or (h[4] or '') ~= ARGV[2] or (h[5] or '') ~= ARGV[3] then return 1 end
redis.call('DEL', KEYS[1])
return {h[1], h[2], h[3]}`)

/**
 * One-time handoff codes: kept under their SHA-256 for a few seconds, bound to the target app. A code
 * holds no token, only which session it hands over (that session's id opens nothing by itself).
 */
export function createHandoffCodeStore(redis: RedisClient, keys: RedisKeys, ttlSeconds: number) {
  return {
    async create(code: string, handoff: Handoff): Promise<void> {
      const k = keys.handoffCode(digest(code))
      await guarded(
        redis
          .multi()
          .hset(k, {
            s: handoff.sourceId,
            t: handoff.target,
            r: handoff.returnTo,
            ...(handoff.mobile ? { c: handoff.mobile.codeChallenge, u: handoff.mobile.redirectUri } : {}),
          })
          .expire(k, ttlSeconds)
          .exec(),
      )
    },

    async take(code: string, app: string, proof?: Handoff['mobile']): Promise<TakeResult> {
      const args = [app, proof?.codeChallenge ?? '', proof?.redirectUri ?? '']
      const result = await guarded(TAKE(redis, [keys.handoffCode(digest(code))], args))
      if (result === 0) return { ok: false, reason: 'unknown' }
      if (result === 1) return { ok: false, reason: 'mismatch' }
      const [sourceId, target, returnTo] = result as string[]
      return { ok: true, handoff: { sourceId, target, returnTo } }
    },
  }
}

export type HandoffCodeStore = ReturnType<typeof createHandoffCodeStore>
