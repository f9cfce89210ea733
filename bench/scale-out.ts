/**
 * keyward past one process and one Redis: fresh-token proxied GETs spread over 1,000 sessions, with 1
 * and with 2 keyward processes (WORKERS), on one Redis (session cache on, and off) and on a local
 * Redis Cluster of three primaries and three replicas (where the cache is off), with the Redis
 * commands each request cost. Run with `npm run bench`.
 *   BENCH_SECONDS (5), BENCH_ROUNDS (5)
 */
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Cluster, Redis } from 'ioredis'
import { tempDir } from '../harness/temp-dir'
import { testEnv, testSealer } from '../harness/keyward'
import { RedisClusterTopology, scanKeys } from '../harness/redis-topology'
import type { TokenSession } from '../src/domain/token-session'
import { redisKeys } from '../src/store/keys'
import { openRedis } from '../src/store/topology'
import { createTokenSessionStore, type TokenSessionStore } from '../src/store/token-sessions'
import {
  copySessions,
  ensureWrk,
  keycloak,
  keyward,
  login,
  machine,
  main,
  median,
  nodeServer,
  privateRedis,
  rotations,
  wrk,
} from './lib'

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5)
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5)
const ACTIVE = 1000

/**
 * Commands the servers have run since their counters were last reset (every primary of a Cluster),
 * and the CPU time Redis reports spending on them (µs), the probes' own commands left out.
 */
async function commandsRun(servers: Redis[]): Promise<{ calls: number; usec: number }> {
  let calls = 0
  let usec = 0
  for (const server of servers) {
    const info = await server.info('commandstats')
    for (const m of info.matchAll(
      /^cmdstat_(?!info|config|ping|cluster|replconf|client|hello|command)[^:]+:calls=(\d+),usec=(\d+)/gm,
    )) {
      calls += Number(m[1])
      usec += Number(m[2])
    }
  }
  return { calls, usec }
}

main(async (atExit) => {
  ensureWrk()
  keycloak()
  const single = await privateRedis()
  atExit(async () => (single.client.disconnect(), single.server.stop()))
  const cluster = await RedisClusterTopology.start()
  atExit(() => cluster.stop())
  const clusterClient = openRedis({ kind: 'cluster', nodes: cluster.nodes, auth: {}, tls: false }) as Cluster
  atExit(async () => clusterClient.disconnect())
  const upstream = await nodeServer('echo-upstream.mjs')
  atExit(() => upstream.proc.kill('SIGTERM'))
  const env = testEnv({ UPSTREAMS: JSON.stringify({ up: upstream.url }), LOG_LEVEL: 'warn' })
  const { REDIS_URL: _single, ...clusterEnv } = { ...env, ...cluster.env }

  const targets: { name: string; workers: number; url: string; servers: () => Redis[] }[] = []
  for (const workers of [1, 2]) {
    for (const [name, more, servers] of [
      ['one Redis, cache on', { REDIS_URL: single.url, SESSION_CACHE_MS: '1000' }, () => [single.client]],
      ['one Redis, cache off', { REDIS_URL: single.url, SESSION_CACHE_MS: '0' }, () => [single.client]],
      ['Cluster 3+3', clusterEnv, () => clusterClient.nodes('master')],
    ] as const) {
      const kw = await keyward(name.startsWith('Cluster') ? more : { ...env, ...more }, workers)
      atExit(() => kw.proc.kill('SIGTERM'))
      targets.push({ name, workers, url: kw.url, servers })
    }
  }

  // One real login, copied into 1,000 sessions in each store (fresh for an hour: no refresh runs);
  // in the Cluster they spread over every primary, as real ones would.
  await login(targets[0].url)
  const keys = redisKeys(env.REDIS_PREFIX)
  const stores: TokenSessionStore[] = [single.client, clusterClient].map((r) =>
    createTokenSessionStore(r, keys, testSealer()),
  )
  const [key] = await scanKeys(single.client, `${env.REDIS_PREFIX}tok:*`)
  const real: TokenSession = (await stores[0].get(key.slice(key.indexOf('{') + 1, -1)))!
  const cookies = await copySessions(real, ACTIVE, stores, env.SESSION_SECRET.split(',')[0])
  const cookieFile = join(tempDir('bench'), 'cookies.txt')
  writeFileSync(cookieFile, cookies.join('\n'))

  const run = (url: string) => {
    const r = wrk(`${url}/api/up/x`, {
      threads: 2,
      connections: 32,
      seconds: SECONDS,
      headers: { 'x-csrf': '1' },
      cookiesFile: cookieFile,
    })
    if (r.errors || r.non2xx) throw new Error(`${r.errors} errors, ${r.non2xx} answers other than 2xx`)
    return r
  }
  for (const t of targets) run(t.url) // warm-up
  type Round = { rps: number; p50: number; p99: number; perRequest: number; redisUsec: number }
  const results = new Map(targets.map((t) => [t, [] as Round[]]))
  for (const t of rotations(targets, ROUNDS)) {
    const before = await commandsRun(t.servers())
    const r = run(t.url)
    const after = await commandsRun(t.servers())
    results.get(t)!.push({
      rps: r.rps,
      p50: r.p50,
      p99: r.p99,
      perRequest: (after.calls - before.calls) / r.requests,
      redisUsec: (after.usec - before.usec) / r.requests,
    })
  }

  console.log(`\n${machine()}\n`)
  console.log(
    `Fresh-token proxied GETs spread over ${ACTIVE} sessions, wrk -t2 -c32, ${SECONDS} s per run, ${ROUNDS} interleaved rounds (medians):\n`,
  )
  // What one Redis core could serve of these requests, from Redis's own CPU time per request: the
  // capacity a session cache would add, and a Cluster adds by its primaries.
  console.log(
    '| Redis | keyward processes | req/s | p50 ms | p99 ms | Redis commands per request | Redis CPU µs per request | requests/s one Redis core serves |',
  )
  console.log('|---|---|---|---|---|---|---|---|')
  for (const t of targets) {
    const m = (f: keyof Round) => median(results.get(t)!.map((r) => r[f]))
    console.log(
      `| ${t.name} | ${t.workers} | ${Math.round(m('rps'))} | ${(m('p50') / 1000).toFixed(2)} | ${(m('p99') / 1000).toFixed(2)} | ${m('perRequest').toFixed(3)} | ${m('redisUsec').toFixed(2)} | ${Math.round(1e6 / m('redisUsec'))} |`,
    )
  }
})
