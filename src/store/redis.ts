import { createHash } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { Redis } from 'ioredis'
import { Problem, unavailable } from '../errors'

/**
 * The one Redis connection. Commands fail at once while Redis is away (no offline queue, one retry),
 * so callers answer 503 quickly instead of hanging; the client keeps reconnecting in the background.
 */
export function createRedis(url: string): Redis {
  return new Redis(url, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: 2000,
    commandTimeout: 2000,
    retryStrategy: (attempt) => Math.min(attempt * 100, 1000),
    // Commands issued in the same tick by concurrent requests share one write to the socket.
    enableAutoPipelining: true,
  })
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
  NOT_NOW.test(err.message) || (err.message.startsWith('EXECABORT') && !!err.previousErrors?.some((e) => NOT_NOW.test(e.message)))

/**
 * Runs a Redis call, turning connection trouble and a Redis that cannot serve now into a 503 Problem.
 * Any other ReplyError is Redis refusing a command we sent, which is a bug, so it stays a plain error (500).
 */
export async function guarded<T>(call: Promise<T>): Promise<T> {
  try {
    return await call
  } catch (err) {
    if (err instanceof Error && err.name === 'ReplyError' && !notNow(err)) throw err
    throw unavailable('store', err)
  }
}

/**
 * Runs a write that must not be lost (tokens Keycloak has just issued) until it succeeds or `until`
 * (epoch ms) has passed, retrying with backoff (50 ms to 0.5 s) only while the store is unavailable.
 */
export async function retryWhileUnavailable<T>(write: () => Promise<T>, until: number, now: () => number = Date.now): Promise<T> {
  for (let delayMs = 50; ; delayMs = Math.min(delayMs * 2, 500)) {
    try {
      return await write()
    } catch (err) {
      const storeDown = err instanceof Problem && err.code === 'store_unavailable'
      if (!storeDown || now() + delayMs >= until) throw err
      await sleep(delayMs)
    }
  }
}

/** A Lua script run by its SHA1, loaded on first use (and again after a Redis restart). */
export function luaScript(lua: string) {
  const sha = createHash('sha1').update(lua).digest('hex')
  return async (redis: Redis, keys: string[], args: (string | number)[]): Promise<unknown> => {
    try {
      return await redis.evalsha(sha, keys.length, ...keys, ...args)
    } catch (err) {
      if (!(err instanceof Error && err.message.startsWith('NOSCRIPT'))) throw err
      return redis.eval(lua, keys.length, ...keys, ...args)
    }
  }
}
