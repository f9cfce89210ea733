import type { CodeBinding, MobileLogin } from '../domain/login'
import { digest } from '../domain/opaque'
import type { RedisKeys } from './keys'
import { guarded, luaScript } from './redis'
import type { RedisClient } from './topology'
import type { Sealer } from './seal'

export type RedeemResult = { ok: true; login: MobileLogin } | { ok: false; reason: 'unknown' | 'mismatch' }

// Hands out the session only to the caller who shows the code's PKCE challenge (computed from its
// verifier), redirect URI and app; a wrong guess leaves the code in place, a right one takes it for good.
const REDEEM = luaScript(`
local h = redis.call('HMGET', KEYS[1], 'c', 'r', 'a', 'd')
if not h[4] then return 0 end
if h[1] ~= ARGV[1] or h[2] ~= ARGV[2] or h[3] ~= ARGV[3] then return 1 end
redis.call('DEL', KEYS[1])
return h[4]`)

/**
 * One-time codes of mobile logins: a code stands for a finished login (its token session, sealed)
 * for a few seconds, bound to the app, its redirect URI and the PKCE challenge.
 */
export function createMobileCodeStore(redis: RedisClient, keys: RedisKeys, sealer: Sealer, ttlSeconds: number) {
  return {
    async create(code: string, binding: CodeBinding, login: MobileLogin): Promise<void> {
      const k = keys.mobileCode(digest(code))
      // Text (base64url) here: the Lua script below hands the value back through ioredis as a string.
      const sealed = sealer.seal(JSON.stringify(login), k).toString('base64url')
      await guarded(
        redis
          .multi()
          .hset(k, { c: binding.codeChallenge, r: binding.redirectUri, a: binding.app, d: sealed })
          .expire(k, ttlSeconds)
          .exec(),
      )
    },

    async redeem(code: string, proof: CodeBinding): Promise<RedeemResult> {
      const k = keys.mobileCode(digest(code))
      const result = await guarded(REDEEM(redis, [k], [proof.codeChallenge, proof.redirectUri, proof.app]))
      if (result === 0) return { ok: false, reason: 'unknown' }
      if (result === 1) return { ok: false, reason: 'mismatch' }
      return {
        ok: true,
        login: JSON.parse(sealer.open(Buffer.from(String(result), 'base64url'), k).toString()) as MobileLogin,
      }
    },
  }
}

export type MobileCodeStore = ReturnType<typeof createMobileCodeStore>
