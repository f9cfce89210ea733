import type { RedisKeys } from './keys'
import { guarded, luaScript } from './redis'
import type { RedisClient } from './topology'

// Takes the checks that are due (score: when, in ms), at most ARGV[3], and moves each to ARGV[2]: the
// instance that took it has until then, after which any instance takes it again (it died meanwhile).
const CLAIM = luaScript(`
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
for _, member in ipairs(due) do redis.call('ZADD', KEYS[1], 'XX', ARGV[2], member) end
return due`)

/** One check to make: of which session, and which of the scheduled checks it is (0, 1, 2…). */
export interface OfflineRecheck {
  sessionId: string
  step: number
}

const memberOf = (c: OfflineRecheck) => `${c.step}:${c.sessionId}`
const parse = (member: string): OfflineRecheck => {
  const at = member.indexOf(':')
  return { step: Number(member.slice(0, at)), sessionId: member.slice(at + 1) }
}

/**
 * The offline sessions a back-channel logout named, to be asked about at Keycloak again, kept in Redis
 * (one sorted set, by when each check is due) so that any instance makes the check, and one that dies
 * after taking a check gives it back when its lease runs out.
 */
export function createOfflineRecheckStore(redis: RedisClient, keys: RedisKeys) {
  const key = keys.offlineRechecks
  return {
    async schedule(check: OfflineRecheck, dueAt: number): Promise<void> {
      await guarded(redis.zadd(key, dueAt, memberOf(check)))
    },
    /** The checks due at `now`, at most `max`, each this instance's until `now + leaseMs`. */
    async claim(now: number, leaseMs: number, max: number): Promise<OfflineRecheck[]> {
      const due = (await guarded(CLAIM(redis, [key], [now, now + leaseMs, max]))) as string[]
      return due.map(parse)
    },
    async done(check: OfflineRecheck): Promise<void> {
      await guarded(redis.zrem(key, memberOf(check)))
    },
    /** The checks of a session that has ended, whichever is next. */
    async forget(sessionId: string, steps: number): Promise<void> {
      const members = Array.from({ length: steps }, (_, step) => memberOf({ sessionId, step }))
      await guarded(redis.zrem(key, ...members))
    },
    /** `check` made; the next one (`step + 1`) due at `dueAt`. */
    async next(check: OfflineRecheck, dueAt: number): Promise<void> {
      const following = { ...check, step: check.step + 1 }
      await guarded(redis.multi().zrem(key, memberOf(check)).zadd(key, dueAt, memberOf(following)).exec())
    },
  }
}

export type OfflineRecheckStore = ReturnType<typeof createOfflineRecheckStore>
