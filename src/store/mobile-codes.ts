import type { Redis } from 'ioredis'
import { digest } from '../tokens/opaque'
import type { TokenSession } from '../tokens/token-session'
import type { RedisKeys } from './keys'
import { guarded, luaScript } from './redis'
import type { Sealer } from './seal'

/** What a code stands for: a finished login. */
export interface MobileLogin {
  session: TokenSession
  /** The login created its Keycloak session (no single sign-on), see `storeNewSession`. */
  ownKeycloakSession: boolean
}

export type RedeemResult = { ok: true; login: MobileLogin } | { ok: false; reason: 'unknown' | 'mismatch' }

// Hands out the session only to the caller who shows the code's PKCE challenge (computed from its
// verifier), redirect URI and app; a wrong guess leaves the code in place, a right one takes it for good.
const REDEEM = luaScript(`
local h = redis.call('HMGET', KEYS[1], 'c', 'r', 'a', 'd')
if not h[4] then return 0 end
if h[1] ~= ARGV[1] or h[2] ~= ARGV[2] or h[3] ~= ARGV[3] then return 1 end
redis.call('DEL', KEYS[1])
return h[4]`)

/** What a code is bound to, and what redeeming it must show. */
export interface CodeBinding {
  /** The app (keyward host) the login ran on. */
  app: string
  codeChallenge: string
  redirectUri: string
}

/**
 * One-time codes of mobile logins: a code stands for a finished login (its token session, sealed)
 * for a few seconds, bound to the app, its redirect URI and the PKCE challenge.
 */
export function createMobileCodeStore(redis: Redis, keys: RedisKeys, sealer: Sealer, ttlSeconds: number) {
  return {
    async create(code: string, binding: CodeBinding, login: MobileLogin): Promise<void> {
      const k = keys.mobileCode(digest(code))
      const sealed = sealer.seal(JSON.stringify(login), k)
      await guarded(redis.multi().hset(k, { c: binding.codeChallenge, r: binding.redirectUri, a: binding.app, d: sealed }).expire(k, ttlSeconds).exec())
    },

    async redeem(code: string, proof: CodeBinding): Promise<RedeemResult> {
      const k = keys.mobileCode(digest(code))
      const result = await guarded(REDEEM(redis, [k], [proof.codeChallenge, proof.redirectUri, proof.app]))
      if (result === 0) return { ok: false, reason: 'unknown' }
      if (result === 1) return { ok: false, reason: 'mismatch' }
      return { ok: true, login: JSON.parse(sealer.open(String(result), k)) as MobileLogin }
    },
  }
}

export type MobileCodeStore = ReturnType<typeof createMobileCodeStore>
