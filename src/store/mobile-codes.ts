import type { Redis } from 'ioredis'
import { digest } from '../tokens/opaque'
import type { TokenSession } from '../tokens/token-session'
import type { RedisKeys } from './keys'
import { guarded, luaScript } from './redis'
import type { Sealer } from './seal'

export type RedeemResult = { ok: true; session: TokenSession } | { ok: false; reason: 'unknown' | 'mismatch' }

// Hands out the session only to the caller who shows the code's PKCE challenge (computed from its
// verifier) and redirect URI; a wrong guess leaves the code in place, a right one takes it for good.
const REDEEM = luaScript(`
local h = redis.call('HMGET', KEYS[1], 'c', 'r', 'd')
if not h[3] then return 0 end
if h[1] ~= ARGV[1] or h[2] ~= ARGV[2] then return 1 end
redis.call('DEL', KEYS[1])
return h[3]`)

/**
 * One-time codes of mobile logins: a code stands for a finished login (its token session, sealed)
 * for a few seconds, bound to the app's redirect URI and PKCE challenge.
 */
export function createMobileCodeStore(redis: Redis, keys: RedisKeys, sealer: Sealer, ttlSeconds: number) {
  return {
    async create(code: string, binding: { codeChallenge: string; redirectUri: string }, session: TokenSession): Promise<void> {
      const k = keys.mobileCode(digest(code))
      const sealed = sealer.seal(JSON.stringify(session), k)
      await guarded(redis.multi().hset(k, { c: binding.codeChallenge, r: binding.redirectUri, d: sealed }).expire(k, ttlSeconds).exec())
    },

    async redeem(code: string, proof: { codeChallenge: string; redirectUri: string }): Promise<RedeemResult> {
      const k = keys.mobileCode(digest(code))
      const result = await guarded(REDEEM(redis, [k], [proof.codeChallenge, proof.redirectUri]))
      if (result === 0) return { ok: false, reason: 'unknown' }
      if (result === 1) return { ok: false, reason: 'mismatch' }
      return { ok: true, session: JSON.parse(sealer.open(String(result), k)) as TokenSession }
    },
  }
}

export type MobileCodeStore = ReturnType<typeof createMobileCodeStore>
