import type { Redis, RedisOptions } from 'ioredis'
import type { TokenSession } from '../domain/token-session'
import { errorFields, type Logger } from '../log'
import { closeRedis, type RedisClient } from './topology'

export interface SessionCacheOptions {
  /**
   * Opens a connection of the cache's own to the one server (or Sentinel primary) sessions live on,
   * with `extra` options. Tracking is per server: a Redis Cluster would need a pair per primary.
   */
  open: (extra?: RedisOptions) => Redis
  /** The Redis key of a token session, by its id (`RedisKeys.tokenSession`). */
  keyOf: (id: string) => string
  /** Reads and opens a token session with the connection given (the store's decoding). */
  read: (redis: RedisClient, id: string) => Promise<TokenSession | undefined>
  /**
   * The store's own connection, read through while the cache's reader is not connected yet (or
   * again): the reader queues nothing while offline, so a read on it would fail at once.
   */
  direct: RedisClient
  /** How long an entry may be used at most, invalidation or not. */
  maxAgeMs: number
  maxEntries: number
  log: Logger
  now?: () => number
}

const INVALIDATE = '__redis__:invalidate'

/**
 * Token sessions kept in this process between requests, so that a chatty client costs no Redis round
 * trip, with Redis's server-assisted client-side caching (CLIENT TRACKING) saying when one changed:
 * every session is read on a connection of its own that Redis tracks, and Redis sends the key of any
 * session written or deleted afterwards, by any instance (a refresh, a logout, a revocation, an
 * expiry), to a second connection subscribed to `__redis__:invalidate` (RESP2: ioredis 6 drops
 * RESP3's own invalidation pushes). The entry is dropped at once.
 *
 * A read and an invalidation for the same key travel on different connections, so the invalidation
 * may arrive first: a read caches its answer only if no invalidation of its key came in while it was
 * on its way. While either connection is down (or tracking is not yet on), nothing is cached and the
 * cache is empty: a lost invalidation could otherwise keep an ended session alive. And no entry is
 * used longer than `maxAgeMs`, whatever happens to the messages.
 */
export function createSessionCache(options: SessionCacheOptions) {
  const now = options.now ?? Date.now
  const entries = new Map<string, { session: TokenSession; at: number }>()
  /** Reads on their way, by key: a read caches only while its own mark is still there. */
  const reading = new Map<string, symbol>()
  const reader = options.open()
  // Subscribed again by hand after a reconnect: its new client id must be known first.
  const listener = options.open({ protocol: 2, autoResubscribe: false })
  let listenerId: string | undefined
  let tracking = false

  function forgetAll(): void {
    entries.clear()
    reading.clear()
  }

  function stop(why: string): void {
    if (tracking) options.log.warn({ why }, 'session cache off until Redis tracking is back')
    else options.log.debug({ why }, 'session cache: a connection closed before tracking was on')
    tracking = false
    forgetAll()
  }

  let lastTry = 0

  /** Turns tracking on for the reader, redirected to the listener (again after either reconnects). */
  async function startTracking(): Promise<void> {
    lastTry = now()
    if (reader.status !== 'ready' || !listenerId) {
      options.log.debug({ reader: reader.status, listening: Boolean(listenerId) }, 'session cache: tracking waits')
      return
    }
    try {
      await reader.client('TRACKING', 'OFF')
      await reader.client('TRACKING', 'ON', 'REDIRECT', listenerId)
      forgetAll()
      tracking = true
      options.log.debug('session cache: tracking on')
    } catch (err) {
      options.log.warn({ error: errorFields(err) }, 'Redis tracking could not be turned on; sessions are not cached')
    }
  }

  async function listen(): Promise<void> {
    try {
      const id = String(await listener.client('ID'))
      await listener.subscribe(INVALIDATE)
      listenerId = id
      await startTracking()
    } catch (err) {
      options.log.warn({ error: errorFields(err) }, 'the session cache could not subscribe to invalidations')
    }
  }

  listener.on('messageBuffer', (channel: Buffer, keys: unknown) => {
    if (String(channel) !== INVALIDATE) return
    // A null payload: Redis flushed everything it tracked (FLUSHALL, or its tracking table was full).
    if (!Array.isArray(keys)) return forgetAll()
    for (const key of keys) {
      const k = String(key)
      entries.delete(k)
      reading.delete(k)
    }
  })
  reader.on('ready', () => void startTracking())
  listener.on('ready', () => void listen())
  listener.on('close', () => (listenerId = undefined))
  for (const connection of [reader, listener]) {
    connection.on('close', () => stop('a Redis connection of the session cache closed'))
    connection.on('error', () => undefined) // the main connection logs Redis outages
  }

  function remember(key: string, session: TokenSession): void {
    entries.delete(key) // to the end: a Map iterates in insertion order, so the first is the oldest
    entries.set(key, { session, at: now() })
    if (entries.size > options.maxEntries) entries.delete(entries.keys().next().value!)
  }

  return {
    /**
     * The session `id`, as cached if it was read less than `maxAgeMs` ago and nothing changed it
     * since; else read (on the tracked connection) and cached. Undefined sessions are not cached.
     */
    async get(id: string): Promise<TokenSession | undefined> {
      const key = options.keyOf(id)
      const hit = entries.get(key)
      if (hit && tracking && now() - hit.at < options.maxAgeMs && hit.session.expiresAt > now()) return hit.session
      if (!tracking) {
        // Both connections up but tracking off (a start that raced the other connection's): try
        // again, at most once a second. Until then, every read goes to Redis, as it must.
        if (reader.status !== 'ready') return options.read(options.direct, id)
        if (listenerId && now() - lastTry > 1000) void startTracking()
        return options.read(reader, id)
      }
      const mark = Symbol(key)
      reading.set(key, mark)
      try {
        const session = await options.read(reader, id)
        // Still our mark: no invalidation of this key, and no newer read, came in meanwhile.
        if (reading.get(key) === mark) {
          if (session && tracking) remember(key, session)
          else entries.delete(key)
        }
        return session
      } finally {
        if (reading.get(key) === mark) reading.delete(key)
      }
    },

    /** Drops what is cached of a session this instance has just changed (Redis will say so too). */
    forget(id: string): void {
      const key = options.keyOf(id)
      entries.delete(key)
      reading.delete(key)
    },

    get size(): number {
      return entries.size
    },

    async close(): Promise<void> {
      tracking = false // closing on purpose: nothing to warn of
      forgetAll()
      await Promise.all([reader, listener].map(closeRedis))
    },
  }
}

export type SessionCache = ReturnType<typeof createSessionCache>
