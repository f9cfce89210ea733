import { readFileSync } from 'node:fs'
import type { SharedOptions } from './schema'
import type { Naming } from './names'
import type { GivenRedisClient, RedisTls, RedisTopology } from './types'

type RedisOptions = SharedOptions['redis']

/**
 * Where keyward's Redis is: the host application's own client, one server (a URL), a primary found
 * through Sentinels, or a Redis Cluster. With Sentinels or a Cluster, credentials and TLS have options
 * of their own, as there is no one URL to carry them; the URL then must stay unset, so no one thinks it
 * is used. `given(path)`: whether the option was set, rather than left to its default.
 */
export function redisFrom(
  r: RedisOptions,
  given: (path: string) => boolean,
  naming: Naming,
  problems: string[],
): { topology?: RedisTopology; client?: GivenRedisClient } {
  const n = (option: string) => naming(`redis.${option}`)
  const set = (option: string) => given(`redis.${option}`)
  if (r.client) {
    const where = ['url', 'sentinels', 'clusterNodes'].filter(set)
    if (where.length) problems.push(`${where.map(n).join(', ')}: not used with ${n('client')}; give one of them`)
    return { client: r.client as GivenRedisClient }
  }
  const tls = tlsFrom(r, naming, problems)
  const auth = { username: r.username, password: r.password }
  if (r.sentinels && r.clusterNodes) {
    problems.push(`${n('sentinels')}, ${n('clusterNodes')}: set one of them, not both`)
  }
  if ((r.sentinels || r.clusterNodes) && r.url) {
    problems.push(
      `${n('url')}: not used with ${n('sentinels')} or ${n('clusterNodes')}; unset it (credentials go in ` +
        `${n('username')}/${n('password')}, TLS in ${n('tls')})`,
    )
  }
  if (r.sentinels) {
    return {
      topology: {
        kind: 'sentinel',
        sentinels: r.sentinels,
        master: r.sentinelMaster,
        sentinelAuth: { username: r.sentinelUsername, password: r.sentinelPassword },
        auth,
        tls,
      },
    }
  }
  if (r.clusterNodes) {
    if (set('sessionCacheMs') && r.sessionCacheMs > 0) {
      problems.push(
        `${n('sessionCacheMs')}: there is no session cache with a Redis Cluster (docs/operations.md, "Redis topologies"); unset it`,
      )
    }
    return { topology: { kind: 'cluster', nodes: r.clusterNodes, auth, tls } }
  }
  for (const option of ['username', 'password', 'tls', 'sentinelUsername', 'sentinelPassword'].filter(set)) {
    problems.push(
      `${n(option)}: used with ${n('sentinels')} or ${n('clusterNodes')}; with one server, put it in ${n('url')} ` +
        `(redis://user:password@host:port, rediss:// for TLS)`,
    )
  }
  const url = r.url ?? 'redis://127.0.0.1:6379'
  if (!url.startsWith('rediss:') && r.tlsCaFile) {
    problems.push(`${n('tlsCaFile')}: TLS needs a rediss:// ${n('url')}`)
  }
  return { topology: { kind: 'standalone', url, tls: url.startsWith('rediss:') ? tls || {} : false } }
}

function tlsFrom(r: RedisOptions, naming: Naming, problems: string[]): RedisTls {
  if (!r.tlsCaFile) return r.tls ? {} : false
  try {
    return { ca: readFileSync(r.tlsCaFile) }
  } catch (err) {
    problems.push(
      `${naming('redis.tlsCaFile')}: a readable PEM file of the CAs Redis's certificate chains to (${(err as Error).message})`,
    )
    return false
  }
}
