import {
  idleExtension,
  type DPoPKey,
  type TokenSession,
  type TokenSet,
  type UpstreamToken,
} from '../domain/token-session'
import type { RedisKeys } from './keys'
import { guarded, luaScript } from './redis'
import type { Durably } from './replica-wait'
import type { RedisClient } from './topology'
import type { Sealer } from './seal'
import { decodeTokens, encodeTokens } from './token-codec'

// An index is a sorted set of session ids scored by their expiry (small ones are packed compactly by
// Redis), and lives as long as its longest-lived member; PEXPIRETIME is -1/-2 for no TTL/no key.
const INDEX_ADD = luaScript(`
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
if redis.call('PEXPIRETIME', KEYS[1]) < tonumber(ARGV[2]) then redis.call('PEXPIREAT', KEYS[1], ARGV[2]) end
return 1`)

// Writes a refreshed session only if the record is still at the version it was read at, so a slow
// writer can never put an older refresh token back over a newer one. (A holder whose lock expired
// meanwhile still writes when the version matches: its tokens are then the newest Keycloak issued.)
// Made again after a fail-over scare (`durably`), it recognises its own write (the same sealed bytes).
const REPLACE = luaScript(`
local v = redis.call('HGET', KEYS[1], 'v')
if v == ARGV[2] and redis.call('HGET', KEYS[1], 't') == ARGV[4] then return 1 end
if v ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'v', ARGV[2], 'm', ARGV[3], 't', ARGV[4])
redis.call('HDEL', KEYS[1], 'i')
redis.call('PEXPIREAT', KEYS[1], ARGV[5])
return 1`)

// Moves the idle end of a record that still exists, never back (a sibling's activity: `extendIdle`).
const EXTEND_IDLE = luaScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if tonumber(redis.call('HGET', KEYS[1], 'i') or '0') >= tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 'i', ARGV[1])
if redis.call('PEXPIRETIME', KEYS[1]) < tonumber(ARGV[1]) then redis.call('PEXPIREAT', KEYS[1], ARGV[1]) end
return 1`)

// Sets one field of a record that still exists: a session ended meanwhile stays ended.
const SET_IF_EXISTS = luaScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
return redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])`)

/** The most sessions one listing reads (one user's, one Keycloak session's). */
export const LISTED = 1000

type Meta = Omit<TokenSession, 'id' | 'tokens' | 'version' | 'cookieExpiresAt' | 'upstreamTokens'>

/** The hash field of an upstream's own token, and what it is sealed for (no field's bytes fit another). */
const UPSTREAM = 'u:'
const upstreamAad = (id: string, name: string) => `${id}|${UPSTREAM}${name}`

/**
 * Token sessions in Redis: one hash per session (`v` version, `m` metadata, `t` the sealed tokens as
 * bytes, `c` when the browser's remember-me cookie expires, `i` its idle end as a sibling's activity
 * moved it since its own last write) that expires when Keycloak stops honouring its refresh token,
 * plus indexes by `sub` and `sid`. Tokens are written only here.
 */
export function createTokenSessionStore(
  redis: RedisClient,
  keys: RedisKeys,
  sealer: Sealer,
  options: {
    now?: () => number
    onChange?: (id: string) => void
    /** Creations, refreshes and deletions run through it, to last a Redis fail-over (`replicaWaiter`). */
    durably?: Durably
    /** After a session is created or replaced with a new grant: never throws (`createSharedIdle`). */
    granted?: (session: TokenSession) => Promise<void>
  } = {},
) {
  const key = keys.tokenSession
  const now = options.now ?? Date.now
  const changed = options.onChange ?? (() => undefined)
  const durably: Durably = options.durably ?? ((_key, write) => write())
  const granted = options.granted ?? (() => Promise.resolve())

  function indexKeys(s: Pick<TokenSession, 'sub' | 'sid'>): string[] {
    return s.sid ? [keys.subIndex(s.sub), keys.sidIndex(s.sid)] : [keys.subIndex(s.sub)]
  }

  function fields(session: TokenSession) {
    // Upstream tokens are written on their own (`keepUpstreamToken`), never with the metadata.
    const { id, tokens, version, cookieExpiresAt, upstreamTokens: _upstream, ...meta } = session
    return {
      v: version,
      m: JSON.stringify(meta),
      t: sealer.seal(encodeTokens(tokens), id),
      ...(cookieExpiresAt ? { c: cookieExpiresAt } : {}),
    }
  }

  /** Index sets and the browser's cookie session live as long as the token session they lead to. */
  async function extendNeighbours(session: TokenSession): Promise<void> {
    await guarded(
      Promise.all([
        ...indexKeys(session).map((k) => INDEX_ADD(redis, [k], [session.id, session.expiresAt])),
        ...(session.cookieSessionId
          ? [redis.pexpireat(keys.cookieSession(session.cookieSessionId), session.expiresAt)]
          : []),
      ]),
    )
  }

  /**
   * The session as read on `connection`, or undefined when it expired, was deleted, or was sealed with
   * a key since retired.
   */
  async function read(connection: RedisClient, id: string): Promise<TokenSession | undefined> {
    const h = await guarded(connection.hgetallBuffer(key(id)))
    if (!h.m || !h.t || !h.v) return undefined
    let tokens: TokenSet
    try {
      tokens = decodeTokens(sealer.open(h.t, id))
    } catch {
      return undefined // retiring a key from TOKEN_ENCRYPTION_KEYS ends the sessions it sealed
    }
    const session: TokenSession = { id, ...(JSON.parse(h.m.toString()) as Meta), version: Number(h.v), tokens }
    if (h.c) session.cookieExpiresAt = Number(h.c)
    if (h.i) moveIdleEnd(session, Number(h.i))
    for (const [field, sealed] of Object.entries(h)) {
      if (!field.startsWith(UPSTREAM)) continue
      const name = field.slice(UPSTREAM.length)
      try {
        const opened = sealer.open(sealed, upstreamAad(id, name)).toString()
        const [accessToken, expiresAt, obtainedAt, dpopKey] = JSON.parse(opened) as [string, number, number, DPoPKey?]
        ;(session.upstreamTokens ??= {})[name] = { accessToken, expiresAt, obtainedAt, ...(dpopKey ? { dpopKey } : {}) }
      } catch {
        // sealed with a retired key: as if there were none, and exchanged again
      }
    }
    return session
  }

  const get = (id: string) => read(redis, id)

  /** A session's end, moved to a sibling's idle end `at` (never past its own refresh limit). */
  function moveIdleEnd(session: TokenSession, at: number): void {
    const until = idleExtension(session, at)
    if (until === undefined) return
    session.idleEndsAt = Math.max(session.idleEndsAt ?? 0, at)
    session.refreshExpiresAt = session.expiresAt = until
  }

  /**
   * The live sessions an index lists, at most `LISTED` (the session caps keep an index far smaller);
   * members whose record is gone are dropped from it.
   */
  async function listIndexed(index: string): Promise<TokenSession[]> {
    const ids = await guarded(redis.zrangebyscore(index, now(), '+inf', 'LIMIT', 0, LISTED))
    const found = await Promise.all(ids.map(async (id) => ({ id, session: await get(id) })))
    const gone = found.filter((f) => !f.session).map((f) => f.id)
    await guarded(
      Promise.all([
        redis.zremrangebyscore(index, '-inf', `(${now()}`),
        ...(gone.length ? [redis.zrem(index, ...gone)] : []),
      ]),
    )
    return found.flatMap((f) => (f.session ? [f.session] : []))
  }

  return {
    /** Stores a new session. Sessions whose expiry has already passed are not stored. */
    async create(session: TokenSession): Promise<void> {
      if (session.expiresAt <= now()) return
      const f = fields(session)
      await durably(key(session.id), () =>
        guarded(redis.multi().hset(key(session.id), f).pexpireat(key(session.id), session.expiresAt).exec()),
      )
      // Indexes are separate keys (other slots in Redis Cluster), so they are written after the record;
      // readers treat a member whose record is gone as absent.
      await extendNeighbours(session)
      await granted(session)
    },

    /** Compare-and-set of a refreshed session on its version; false when the record moved on. */
    async replace(next: TokenSession, expectedVersion: number): Promise<boolean> {
      const f = fields(next)
      const written = await durably(
        key(next.id),
        () => guarded(REPLACE(redis, [key(next.id)], [expectedVersion, f.v, f.m, f.t, next.expiresAt])),
        (result) => result === 1,
      )
      changed(next.id)
      if (written !== 1) return false
      await extendNeighbours(next)
      await granted(next)
      return true
    },

    get,
    read,

    /**
     * Moves the end of a session still there to `until` (`idleExtension`): a sibling app's grant
     * kept Keycloak's user session alive. Its token session's version stays, so no refresh under way
     * is turned away; its own next write starts from what Keycloak says then.
     */
    async extendIdle(session: TokenSession, until: number): Promise<void> {
      if ((await guarded(EXTEND_IDLE(redis, [key(session.id)], [until]))) !== 1) return
      changed(session.id)
      await extendNeighbours({ ...session, expiresAt: until })
    },

    /** Keeps an upstream's own token with a session that still exists (a refresh leaves it in place). */
    async keepUpstreamToken(id: string, name: string, token: UpstreamToken): Promise<void> {
      const { accessToken, expiresAt, obtainedAt, dpopKey } = token
      const plain = JSON.stringify(
        dpopKey ? [accessToken, expiresAt, obtainedAt, dpopKey] : [accessToken, expiresAt, obtainedAt],
      )
      await guarded(SET_IF_EXISTS(redis, [key(id)], [`${UPSTREAM}${name}`, sealer.seal(plain, upstreamAad(id, name))]))
      changed(id)
    },

    /** Records when the browser's remember-me cookie, just issued again, expires. */
    async noteCookieExpiry(id: string, expiresAt: number): Promise<void> {
      await guarded(SET_IF_EXISTS(redis, [key(id)], ['c', expiresAt]))
      changed(id)
    },

    /** Removes the session, its index entries, and the browser's cookie session pointing at it. */
    async delete(session: Pick<TokenSession, 'id' | 'sub' | 'sid' | 'cookieSessionId'>): Promise<void> {
      await durably(key(session.id), () => guarded(redis.del(key(session.id))))
      changed(session.id)
      await guarded(
        Promise.all([
          ...indexKeys(session).map((k) => redis.zrem(k, session.id)),
          ...(session.cookieSessionId ? [redis.del(keys.cookieSession(session.cookieSessionId))] : []),
        ]),
      )
    },

    /** Which of the sessions `ids` still exist (one EXISTS each, sent together). */
    async existing(ids: readonly string[]): Promise<Set<string>> {
      const found = await guarded(Promise.all(ids.map((id) => redis.exists(key(id)))))
      return new Set(ids.filter((_id, i) => found[i] === 1))
    },

    /** Every live session of a Keycloak subject (user). */
    listBySub: (sub: string): Promise<TokenSession[]> => listIndexed(keys.subIndex(sub)),

    /** Every live session in one Keycloak user session (`sid`): several apps, devices or kinds. */
    listBySid: (sid: string): Promise<TokenSession[]> => listIndexed(keys.sidIndex(sid)),
  }
}

export type TokenSessionStore = ReturnType<typeof createTokenSessionStore>
