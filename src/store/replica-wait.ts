/**
 * Session writes a Redis fail-over cannot undo (`REDIS_WAIT_REPLICAS`): WAIT for replicas, and behind
 * Sentinels, a write the replicas did not confirm is made again until it is on the primary to stay.
 */
import { Redis } from 'ioredis'
import type { ReplicaWait } from '../config/types'
import { storeUnavailable } from '../domain/failures'
import type { Logger } from '../log'
import { guarded } from './redis'
import { retryWhileStoreUnavailable } from './retry'
import { topologyOf, type RedisClient } from './topology'

/** How long a write is made again while a fail-over may undo it (a Sentinel switch takes seconds). */
const REWRITE_BUDGET_MS = 5000

/** Runs `write` (idempotent) so that it lasts; `kept` says whether it wrote anything to wait for. */
export type Durably = <T>(key: string, write: () => Promise<T>, kept?: (result: T) => boolean) => Promise<T>

export interface ReplicaWaiter {
  durably: Durably
  close(): void
}

/**
 * After a write to `key`, WAIT until `wait.count` replicas have it, or `wait.timeoutMs`, sent in one
 * pipeline with a read of the key so that in a Cluster too it reaches the key's primary, on the
 * connection that carried the write.
 *
 * A write the replicas did not confirm is on the primary only. Usually that primary stays (its replica
 * is slow or away), and the write is kept with a warning. But behind Sentinels it may be a primary
 * being replaced: the Sentinels promote its replica first and demote it seconds later, and everything
 * it took in between is dropped then (a login lost in the soak's fail-over). So such a write is kept
 * only when every Sentinel that answers names its server as the primary, with no fail-over under way;
 * otherwise it is made again, on the primary the client then follows, for up to 5 s, and fails with
 * `store_unavailable` after that. With one server or a Cluster, nothing is checked.
 */
export function replicaWaiter(redis: RedisClient, wait: ReplicaWait, log: Logger): ReplicaWaiter {
  if (wait.count === 0) return { durably: (_key, write) => write(), close: () => undefined }
  const sentinels = topologyOf(redis) === 'sentinel' ? sentinelView(redis as Redis) : undefined
  let lastWarning = 0
  let short = 0
  let rewritten = 0

  /** Whether the write before it lasts: replicas have it, or its primary is there to stay. */
  async function lasting(key: string): Promise<boolean> {
    const stream = (redis as Redis).stream
    const [, [err, acked] = []] = (await guarded(redis.pipeline().exists(key).wait(wait.count, wait.timeoutMs).exec()))!
    if (err) throw storeUnavailable(err)
    if (Number(acked) >= wait.count) return true
    short++
    const stays = !sentinels || (await sentinels.primaryStays(stream))
    if (!stays) rewritten++
    if (Date.now() - lastWarning >= 10_000) {
      lastWarning = Date.now()
      log.warn(
        { replicas: wait.count, timeoutMs: wait.timeoutMs, writes: short, rewritten },
        'session writes not yet on enough replicas',
      )
      short = rewritten = 0
    }
    return stays
  }

  // Made again only while the store is unavailable: a write at risk counts as that.
  const durably: Durably = (key, write, kept = () => true) =>
    retryWhileStoreUnavailable(async () => {
      const result = await write()
      if (kept(result) && !(await lasting(key))) {
        throw storeUnavailable(new Error('Redis is changing primaries: the write could be lost with the old one'))
      }
      return result
    }, Date.now() + REWRITE_BUDGET_MS)

  return { durably, close: () => sentinels?.close() }
}

/** A Sentinel's answer to SENTINEL MASTER, a flat list of names and values. */
const fieldsOf = (reply: unknown): Map<string, string> => {
  const flat = (reply as string[]).map(String)
  return new Map(flat.flatMap((v, i) => (i % 2 === 0 ? [[v, flat[i + 1]] as [string, string]] : [])))
}

/** What the Sentinels of `redis` say of its primary, on connections of its own opened when first asked. */
function sentinelView(redis: Redis) {
  const {
    sentinels = [],
    name,
    sentinelUsername,
    sentinelPassword,
    enableTLSForSentinelMode,
    sentinelTLS,
  } = redis.options
  let clients: Redis[] | undefined
  let closed = false
  // None once closed: a check still under way at shutdown must not open them again.
  const open = (): Redis[] =>
    closed
      ? []
      : (clients ??= sentinels.map((node) => {
          const client = new Redis({
            host: node.host,
            port: node.port,
            username: sentinelUsername ?? undefined,
            password: sentinelPassword ?? undefined,
            ...(enableTLSForSentinelMode ? { tls: sentinelTLS } : {}),
            lazyConnect: true,
            connectTimeout: 500,
            commandTimeout: 500,
            maxRetriesPerRequest: 0,
            retryStrategy: (attempt) => Math.min(attempt * 200, 2000),
          })
          client.on('error', () => undefined) // a Sentinel away just does not answer
          return client
        }))

  return {
    /**
     * Whether the server behind `stream`, which took a write, is the primary every Sentinel that
     * answers names (by run id, or address while a Sentinel has not learnt it) with no fail-over
     * under way. No if the client has moved to another server meanwhile, or no Sentinel answers.
     */
    async primaryStays(stream: Redis['stream']): Promise<boolean> {
      const info = await redis.info('server').catch(() => '')
      if (redis.stream !== stream) return false
      const runId = /^run_id:(\w+)/m.exec(info)?.[1]
      const views = await Promise.all(
        open().map((s) =>
          s.call('SENTINEL', 'MASTER', name!).then(
            (reply) => fieldsOf(reply),
            () => undefined,
          ),
        ),
      )
      const answered = views.filter((v) => v !== undefined)
      return (
        !!runId &&
        answered.length > 0 &&
        answered.every(
          (v) =>
            !v.get('flags')?.split(',').includes('failover_in_progress') &&
            (v.get('runid')
              ? v.get('runid') === runId
              : v.get('ip') === stream.remoteAddress && Number(v.get('port')) === stream.remotePort),
        )
      )
    },
    close: () => {
      closed = true
      clients?.forEach((c) => c.disconnect())
    },
  }
}
