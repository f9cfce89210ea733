import type { Redis } from 'ioredis'
import type { TokenSession, TokenSet } from '../tokens/token-session'
import { guarded, luaScript } from './redis'
import type { Sealer } from './seal'

// An index set lives as long as its longest-lived member; PTTL is -1/-2 for no TTL/no key.
const INDEX_ADD = luaScript(`
redis.call('SADD', KEYS[1], ARGV[1])
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[2]) then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 1`)

type Meta = Omit<TokenSession, 'tokens' | 'version'>

/**
 * Token sessions in Redis: one hash per session (`v` version, `m` metadata, `t` sealed tokens) that
 * expires when Keycloak stops honouring its refresh token, plus index sets by `sub` and `sid`.
 * Tokens are written only here, never through express-session's read-modify-write.
 */
export function createTokenSessionStore(redis: Redis, prefix: string, sealer: Sealer, now: () => number = Date.now) {
  const key = (id: string) => `${prefix}tok:{${id}}`
  const subIndex = (sub: string) => `${prefix}idx:sub:${sub}`
  const sidIndex = (sid: string) => `${prefix}idx:sid:${sid}`

  function indexKeys(s: Pick<TokenSession, 'sub' | 'sid'>): string[] {
    return s.sid ? [subIndex(s.sub), sidIndex(s.sid)] : [subIndex(s.sub)]
  }

  return {
    /** Stores a new session. Sessions whose expiry has already passed are not stored. */
    async create(session: TokenSession): Promise<void> {
      const ttlMs = session.expiresAt - now()
      if (ttlMs <= 0) return
      const { tokens, version, ...meta } = session
      await guarded(
        redis
          .multi()
          .hset(key(session.id), { v: version, m: JSON.stringify(meta), t: sealer.seal(JSON.stringify(tokens), session.id) })
          .pexpireat(key(session.id), session.expiresAt)
          .exec(),
      )
      // Indexes are separate keys (other slots in Redis Cluster), so they are written after the record;
      // readers treat a member whose record is gone as absent.
      await guarded(Promise.all(indexKeys(session).map((k) => INDEX_ADD(redis, [k], [session.id, ttlMs]))))
    },

    /** The session, or undefined when it expired, was deleted, or was sealed with a key since retired. */
    async get(id: string): Promise<TokenSession | undefined> {
      const h = await guarded(redis.hgetall(key(id)))
      if (!h.m || !h.t || !h.v) return undefined
      let tokens: TokenSet
      try {
        tokens = JSON.parse(sealer.open(h.t, id)) as TokenSet
      } catch {
        return undefined // retiring a key from TOKEN_ENCRYPTION_KEYS ends the sessions it sealed
      }
      return { ...(JSON.parse(h.m) as Meta), version: Number(h.v), tokens }
    },

    async delete(session: Pick<TokenSession, 'id' | 'sub' | 'sid'>): Promise<void> {
      await guarded(redis.del(key(session.id)))
      await guarded(Promise.all(indexKeys(session).map((k) => redis.srem(k, session.id))))
    },
  }
}

export type TokenSessionStore = ReturnType<typeof createTokenSessionStore>
