import { createHash } from 'node:crypto'
import { Redis, type RedisOptions } from 'ioredis'
import { storeUnavailable } from '../domain/failures'
import { errorFields, type Logger } from '../log'

/** How every connection keyward opens to Redis behaves (see `createRedis`). */
export const connectionOptions = (): RedisOptions => ({
  enableOfflineQueue: false,
  maxRetriesPerRequest: 1,
  connectTimeout: 2000,
  commandTimeout: 2000,
  retryStrategy: (attempt) => Math.min(attempt * 100, 1000),
  // Commands issued in the same tick by concurrent requests share one write to the socket.
  enableAutoPipelining: true,
})

/**
 * The one Redis connection for commands (the session cache has two of its own). Commands fail at once while Redis is away (no offline queue, one retry),
 * so callers answer 503 quickly instead of hanging; the client keeps reconnecting in the background.
 */
export function createRedis(url: string, log: Logger): Redis {
  const redis = new Redis(url, connectionOptions())
  let lastWarning = 0
  redis.on('error', (err: unknown) => {
    // ioredis reports every failed reconnect; one line per 10 s is enough to see an outage.
    if (Date.now() - lastWarning < 10_000) return
    lastWarning = Date.now()
    log.warn({ error: errorFields(err) }, 'Redis connection error')
  })
  redis.on('ready', () => log.info('Redis connected'))
  return redis
}

/** Resolves once the client is connected, or rejects after `timeoutMs`. */
export function connected(redis: Redis, timeoutMs: number): Promise<void> {
  if (redis.status === 'ready') return Promise.resolve()
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => done(new Error(`Redis not ready after ${timeoutMs} ms`)), timeoutMs)
    const onReady = () => done()
    function done(err?: Error) {
      clearTimeout(timer)
      redis.off('ready', onReady)
      if (err) reject(err)
      else resolve()
    }
    redis.on('ready', onReady)
  })
}

export async function pingRedis(redis: Redis): Promise<boolean> {
  try {
    return (await redis.ping()) === 'PONG'
  } catch {
    return false
  }
}

// Replies of a Redis that cannot take a command now: full (noeviction), loading its data after a
// restart, a replica after a failover, a failing disk, a cluster in trouble. An outage, not a bug.
const NOT_NOW = /^(OOM|LOADING|READONLY|MASTERDOWN|BUSY|TRYAGAIN|CLUSTERDOWN|NOREPLICAS|MISCONF)\b/

// A MULTI whose commands Redis refused as they were queued fails as a whole with EXECABORT.
const notNow = (err: Error & { previousErrors?: Error[] }): boolean =>
  NOT_NOW.test(err.message) ||
  (err.message.startsWith('EXECABORT') && !!err.previousErrors?.some((e) => NOT_NOW.test(e.message)))

/**
 * Runs a Redis call, turning connection trouble and a Redis that cannot serve now into the
 * `store_unavailable` failure. Any other ReplyError is Redis refusing a command we sent, which is a
 * bug, so it stays a plain error.
 */
export async function guarded<T>(call: Promise<T>): Promise<T> {
  try {
    return await call
  } catch (err) {
    if (err instanceof Error && err.name === 'ReplyError' && !notNow(err)) throw err
    throw storeUnavailable(err)
  }
}

/** A Lua script run by its SHA1, loaded on first use (and again after a Redis restart). */
export function luaScript(lua: string) {
  const sha = createHash('sha1').update(lua).digest('hex')
  return async (redis: Redis, keys: string[], args: (string | number | Buffer)[]): Promise<unknown> => {
    try {
      return await redis.evalsha(sha, keys.length, ...keys, ...args)
    } catch (err) {
      if (!(err instanceof Error && err.message.startsWith('NOSCRIPT'))) throw err
      return redis.eval(lua, keys.length, ...keys, ...args)
    }
  }
}
