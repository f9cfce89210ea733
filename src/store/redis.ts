/** Commands to Redis: what counts as Redis being away, Lua scripts, command timing. */
import { createHash } from 'node:crypto'
import { tracingChannel } from 'node:diagnostics_channel'
import { storeUnavailable } from '../domain/failures'
import type { Metrics } from '../domain/metrics'
import type { RedisClient } from './topology'

interface TracedCommand {
  command: string
  args?: string[]
  startedAt?: number
  error?: unknown
}

/**
 * Times every Redis command this process sends (the session cache's too) and counts the failed
 * ones, from ioredis's own diagnostics channel (`ioredis:command`), so no store wraps its calls.
 * Returns the unsubscription. Of the arguments ioredis also publishes, only a CLIENT command's first is
 * read (`expected`).
 */
export function observeRedisCommands(metrics: Pick<Metrics, 'redisCommand' | 'redisError'>): () => void {
  const channel = tracingChannel<unknown, TracedCommand>('ioredis:command')
  const ignore = () => undefined
  const handlers = {
    end: ignore,
    asyncStart: ignore,
    error: ignore, // a rejection ends with asyncEnd too, with `error` set on the context
    start: (ctx: TracedCommand) => void (ctx.startedAt = performance.now()),
    asyncEnd: (ctx: TracedCommand) => {
      if (ctx.startedAt === undefined) return
      metrics.redisCommand(ctx.command.toLowerCase(), (performance.now() - ctx.startedAt) / 1000)
      if (ctx.error && !expected(ctx)) metrics.redisError(errorKind(ctx.error))
    },
  }
  channel.subscribe(handlers)
  return () => channel.unsubscribe(handlers)
}

/**
 * Refusals that are part of the routine: NOSCRIPT is how a script first gets loaded (`luaScript`);
 * CLIENT SETINFO, ioredis's greeting, is unknown to Redis before 7.2.
 */
const expected = (ctx: TracedCommand): boolean =>
  (ctx.error instanceof Error && ctx.error.message.startsWith('NOSCRIPT')) ||
  (ctx.command.toLowerCase() === 'client' && ctx.args?.[0]?.toUpperCase() === 'SETINFO')

/** A failed command: Redis could not serve it now, refused it, or the connection failed it. */
const errorKind = (err: unknown): string =>
  err instanceof Error && err.name === 'ReplyError' ? (notNow(err) ? 'unavailable' : 'refused') : 'connection'

// Replies of a Redis that cannot take a command now: full (noeviction), loading its data after a
// restart, a replica after a failover, a failing disk, a cluster in trouble or changing hands (a
// redirection ioredis did not follow). An outage, not a bug.
const NOT_NOW = /^(OOM|LOADING|READONLY|MASTERDOWN|BUSY|TRYAGAIN|CLUSTERDOWN|NOREPLICAS|MISCONF|MOVED|ASK)\b/

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
  return async (redis: RedisClient, keys: string[], args: (string | number | Buffer)[]): Promise<unknown> => {
    try {
      return await redis.evalsha(sha, keys.length, ...keys, ...args)
    } catch (err) {
      if (!(err instanceof Error && err.message.startsWith('NOSCRIPT'))) throw err
      return redis.eval(lua, keys.length, ...keys, ...args)
    }
  }
}
