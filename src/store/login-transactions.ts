import type { LoginTransaction } from '../domain/login'
import { digest } from '../domain/opaque'
import type { RedisKeys } from './keys'
import { guarded, luaScript } from './redis'
import type { RedisClient } from './topology'

export type ConsumeResult = { ok: true; tx: LoginTransaction } | { ok: false; reason: 'unknown' | 'not_bound' }

// Deletes the transaction only when the browser binding matches, so a forged callback cannot burn
// a real user's pending login; one atomic step, so two callbacks can never both consume it.
const CONSUME = luaScript(`
local b = redis.call('HGET', KEYS[1], 'b')
if not b then return 0 end
if b ~= ARGV[1] then return 1 end
local d = redis.call('HGET', KEYS[1], 'd')
redis.call('DEL', KEYS[1])
return d`)

/** One-time login transactions, keyed by `state` and bound to a browser cookie value. */
export function createLoginTransactionStore(redis: RedisClient, keys: RedisKeys, ttlSeconds: number) {
  const key = keys.loginTransaction
  return {
    async create(state: string, binding: string, tx: LoginTransaction): Promise<void> {
      await guarded(
        redis
          .multi()
          .hset(key(state), { b: digest(binding), d: JSON.stringify(tx) })
          .expire(key(state), ttlSeconds)
          .exec(),
      )
    },
    async consume(state: string, binding: string): Promise<ConsumeResult> {
      const result = await guarded(CONSUME(redis, [key(state)], [digest(binding)]))
      if (result === 0) return { ok: false, reason: 'unknown' }
      if (result === 1) return { ok: false, reason: 'not_bound' }
      return { ok: true, tx: JSON.parse(String(result)) as LoginTransaction }
    },
  }
}

export type LoginTransactionStore = ReturnType<typeof createLoginTransactionStore>
