/**
 * Where keyward's Redis is and how it connects: one server, a primary found through Sentinels, or a
 * Redis Cluster, chosen by configuration (config/redis.ts); what /readyz says of it.
 */
import type { ConnectionOptions } from 'node:tls'
import { Cluster, Redis, type RedisOptions } from 'ioredis'
import type { RedisTls, RedisTopology } from '../config/types'
import type { Metrics } from '../domain/metrics'
import { errorFields, type Logger } from '../log'

/** One Redis server, or a Redis Cluster: every store takes either, and sends only single-slot commands. */
export type RedisClient = Redis | Cluster

/** A topology with one primary to talk to, found by URL or through Sentinels. */
export type ServerTopology = Exclude<RedisTopology, { kind: 'cluster' }>

/** How every connection keyward opens to Redis behaves (see `createRedis`). */
export const connectionOptions = () =>
  ({
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: 2000,
    commandTimeout: 2000,
    retryStrategy: (attempt: number) => Math.min(attempt * 100, 1000),
    // Commands issued in the same tick by concurrent requests share one write to the socket.
    enableAutoPipelining: true,
  }) satisfies RedisOptions

const tlsOptions = (tls: RedisTls): ConnectionOptions | undefined => (tls ? { ...tls } : undefined)

// A primary demoted by a fail-over answers writes with READONLY until Sentinel's reconfiguration
// closes our connection; reconnecting at once asks the Sentinels for the new one (without resending:
// the command fails, and the caller answers 503).
const reconnectWhenReadOnly = (err: Error) => (err.message.startsWith('READONLY') ? 1 : false)

/** The clients `closeRedis` or `disconnectRedis` closed: the only ones meant to stay closed. */
const closedHere = new WeakSet<RedisClient>()

/**
 * ioredis 6 gives a Sentinel client up for good (status `end`, every command "Connection is closed.")
 * when the fail-over watch of its lost primary's connection, still subscribed, disconnects it while it
 * is asking a Sentinel where the primary is: its `connect` then fails and no retry follows. A primary's
 * death is exactly when that happens (two CI runs under load saw keyward answer 503 to the end of the
 * test). Such a client is started again, unless it was closed here.
 */
function restartWhenGivenUp(client: Redis): Redis {
  client.on('end', () => {
    if (closedHere.has(client)) return
    setTimeout(() => {
      if (client.status === 'end' && !closedHere.has(client)) client.connect().catch(() => undefined)
    }, 100).unref()
  })
  return client
}

/** A connection to the one primary of a standalone or Sentinel topology; `extra` adds to the options. */
export function openServer(topology: ServerTopology, extra: RedisOptions = {}): Redis {
  const tls = tlsOptions(topology.tls)
  if (topology.kind === 'standalone') {
    return new Redis(topology.url, { ...connectionOptions(), ...(tls ? { tls } : {}), ...extra })
  }
  const client = new Redis({
    ...connectionOptions(),
    sentinels: topology.sentinels,
    name: topology.master,
    sentinelUsername: topology.sentinelAuth.username,
    sentinelPassword: topology.sentinelAuth.password,
    username: topology.auth.username,
    password: topology.auth.password,
    ...(tls ? { tls, enableTLSForSentinelMode: true, sentinelTLS: tls } : {}),
    // Subscribes to the Sentinels' +switch-master, so a fail-over is followed within moments.
    failoverDetector: true,
    reconnectOnError: reconnectWhenReadOnly,
    ...extra,
  })
  return restartWhenGivenUp(client)
}

/**
 * A client for the topology. In a Cluster, ioredis follows MOVED and ASK (resharding) and refreshes
 * its slot map after a fail-over; commands fail at once while a slot has no primary, as they do
 * while a single Redis is away.
 */
export function openRedis(topology: RedisTopology): RedisClient {
  if (topology.kind !== 'cluster') return openServer(topology)
  const { enableOfflineQueue, retryStrategy: _cluster, enableAutoPipelining: _off, ...perNode } = connectionOptions()
  const tls = tlsOptions(topology.tls)
  return new Cluster(topology.nodes, {
    enableOfflineQueue,
    // Not in a Cluster: an automatic pipeline mixes slots, and ioredis follows a MOVED or ASK in a
    // pipeline only when every command got the same one, so a fail-over or resharding would fail requests.
    enableAutoPipelining: false,
    scaleReads: 'master', // replicas lag: a session read there could be one refresh old
    clusterRetryStrategy: (attempt) => Math.min(attempt * 100, 1000),
    retryDelayOnFailover: 200,
    retryDelayOnClusterDown: 200,
    retryDelayOnTryAgain: 100,
    slotsRefreshTimeout: 2000,
    redisOptions: {
      ...perNode,
      username: topology.auth.username,
      password: topology.auth.password,
      ...(tls ? { tls } : {}),
    },
  })
}

/**
 * The one Redis client for commands (the session cache has connections of its own). Commands fail at
 * once while Redis is away (no offline queue, one retry), so callers answer 503 quickly instead of
 * hanging; the client keeps reconnecting in the background.
 */
export function createRedis(topology: RedisTopology, log: Logger, metrics: Pick<Metrics, 'redisError'>): RedisClient {
  const redis = openRedis(topology)
  watchRedis(redis, log, metrics)
  return redis
}

/**
 * Logs and counts a client's connection trouble (also of a client the host application gave keyward);
 * returns how to stop.
 */
export function watchRedis(redis: RedisClient, log: Logger, metrics: Pick<Metrics, 'redisError'>): () => void {
  let lastWarning = 0
  const onError = (err: unknown) => {
    metrics.redisError('connection')
    // ioredis reports every failed reconnect; one line per 10 s is enough to see an outage.
    if (Date.now() - lastWarning < 10_000) return
    lastWarning = Date.now()
    log.warn({ error: errorFields(err) }, 'Redis connection error')
  }
  const onReady = () => log.info({ topology: topologyOf(redis) }, 'Redis connected')
  redis.on('error', onError)
  redis.on('ready', onReady)
  return () => {
    redis.off('error', onError)
    redis.off('ready', onReady)
  }
}

/** The kind of topology a client talks to. */
export function topologyOf(redis: RedisClient): RedisTopology['kind'] {
  if ((redis as { isCluster?: boolean }).isCluster) return 'cluster'
  return (redis as Redis).options.sentinels?.length ? 'sentinel' : 'standalone'
}

/**
 * Closes a client for good (the only way to: see `restartWhenGivenUp`): QUIT lets the replies under
 * way arrive; the disconnect after it also closes a Sentinel client's fail-over watch on the Sentinels,
 * which QUIT alone leaves open (ioredis 6).
 */
export async function closeRedis(redis: RedisClient): Promise<void> {
  closedHere.add(redis)
  await redis.quit().catch(() => undefined)
  disconnectRedis(redis)
}

/** Closes a client for good at once, replies under way or not. */
export function disconnectRedis(redis: RedisClient): void {
  closedHere.add(redis)
  redis.disconnect()
}

async function answers(redis: RedisClient): Promise<boolean> {
  try {
    return (await redis.ping()) === 'PONG'
  } catch {
    return false
  }
}

/** What /readyz says of Redis: no addresses, as the probe answers on every host. */
export type RedisState =
  | { status: 'up' | 'down'; topology: 'standalone' | 'sentinel' }
  | { status: 'up' | 'down'; topology: 'cluster'; clusterState: string; primaries: number }

/**
 * Whether Redis takes commands now. A Cluster is up when a node answers and says every slot has a
 * primary (`cluster_state:ok`); `primaries` is how many the client knows.
 */
export async function redisState(redis: RedisClient, topology: RedisTopology['kind']): Promise<RedisState> {
  const up = await answers(redis)
  if (topology !== 'cluster') return { status: up ? 'up' : 'down', topology }
  const cluster = redis as Cluster
  const info = up ? await cluster.cluster('INFO').catch(() => '') : ''
  const clusterState = /^cluster_state:(\w+)/m.exec(String(info))?.[1] ?? 'unknown'
  const primaries = cluster.nodes('master').length
  return { status: up && clusterState === 'ok' ? 'up' : 'down', topology, clusterState, primaries }
}
