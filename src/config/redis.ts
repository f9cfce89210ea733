import { readFileSync } from 'node:fs'
import type { Env } from './schema'
import type { RedisTls, RedisTopology } from '../store/topology'

/**
 * The Redis topology the variables choose: REDIS_URL alone (one server), REDIS_SENTINELS or
 * REDIS_CLUSTER_NODES. With the last two, credentials and TLS have variables of their own, as there is
 * no one URL to carry them; REDIS_URL then must stay unset, so no one thinks it is used.
 */
export function redisTopologyFrom(e: Env, env: NodeJS.ProcessEnv, problems: string[]): RedisTopology {
  const tls = tlsFrom(e, problems)
  const auth = { username: e.REDIS_USERNAME, password: e.REDIS_PASSWORD }
  if (e.REDIS_SENTINELS && e.REDIS_CLUSTER_NODES) {
    problems.push('REDIS_SENTINELS, REDIS_CLUSTER_NODES: set one of them, not both')
  }
  if ((e.REDIS_SENTINELS || e.REDIS_CLUSTER_NODES) && env.REDIS_URL) {
    problems.push(
      'REDIS_URL: not used with REDIS_SENTINELS or REDIS_CLUSTER_NODES; unset it (credentials go in REDIS_USERNAME/REDIS_PASSWORD, TLS in REDIS_TLS)',
    )
  }
  if (e.REDIS_SENTINELS) {
    return {
      kind: 'sentinel',
      sentinels: e.REDIS_SENTINELS,
      master: e.REDIS_SENTINEL_MASTER,
      sentinelAuth: { username: e.REDIS_SENTINEL_USERNAME, password: e.REDIS_SENTINEL_PASSWORD },
      auth,
      tls,
    }
  }
  if (e.REDIS_CLUSTER_NODES) {
    if (env.SESSION_CACHE_MS && e.SESSION_CACHE_MS > 0) {
      problems.push(
        'SESSION_CACHE_MS: there is no session cache with a Redis Cluster (README, "Redis topologies"); unset it',
      )
    }
    return { kind: 'cluster', nodes: e.REDIS_CLUSTER_NODES, auth, tls }
  }
  for (const name of [
    'REDIS_USERNAME',
    'REDIS_PASSWORD',
    'REDIS_TLS',
    'REDIS_SENTINEL_USERNAME',
    'REDIS_SENTINEL_PASSWORD',
  ]) {
    if (env[name])
      problems.push(
        `${name}: used with REDIS_SENTINELS or REDIS_CLUSTER_NODES; with one server, put it in REDIS_URL (redis://user:password@host:port, rediss:// for TLS)`,
      )
  }
  const url = e.REDIS_URL
  if (!url.startsWith('rediss:') && e.REDIS_TLS_CA_FILE) {
    problems.push('REDIS_TLS_CA_FILE: TLS needs a rediss:// REDIS_URL')
  }
  return { kind: 'standalone', url, tls: url.startsWith('rediss:') ? tls || {} : false }
}

function tlsFrom(e: Env, problems: string[]): RedisTls {
  if (!e.REDIS_TLS_CA_FILE) return e.REDIS_TLS ? {} : false
  try {
    return { ca: readFileSync(e.REDIS_TLS_CA_FILE) }
  } catch (err) {
    problems.push(
      `REDIS_TLS_CA_FILE: a readable PEM file of the CAs Redis's certificate chains to (${(err as Error).message})`,
    )
    return false
  }
}
