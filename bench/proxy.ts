/**
 * The fresh-token hot path: a proxied GET through keyward with one worker and with a worker per core,
 * and with one worker whose tokens are bound to a key (DPoP: a signed proof per call), beside a plain
 * Node reverse proxy with no auth, all in front of the same upstream, measured with wrk
 * in interleaved rounds: req/s, p50/p99, CPU time per request of the target's own processes, latency
 * at one connection, and Redis commands per request. Run with `npm run bench` (it builds keyward).
 *   BENCH_ROUNDS (5), BENCH_SECONDS (10), BENCH_CONNECTIONS (32), BENCH_C1_SECONDS (5)
 */
import { cpus } from 'node:os'
import { request } from 'undici'
import { testEnv } from '../harness/keyward'
import type { Redis } from 'ioredis'
import {
  baseStack,
  commandStats,
  cpuMs,
  keyward,
  login,
  machine,
  main,
  median,
  nodeServer,
  processTree,
  rotations,
  wrk,
  type WrkResult,
} from './lib'

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5)
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10)
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 32)
const C1_SECONDS = Number(process.env.BENCH_C1_SECONDS ?? 5)
const READS = new Set(['get', 'hgetall', 'hmget', 'mget', 'exists', 'smembers', 'evalsha', 'eval'])

interface Target {
  name: string
  url: string
  pid?: number
  headers?: Record<string, string>
}

interface Measured extends WrkResult {
  /** CPU time of the target's own processes per request, in microseconds. */
  cpuUs: number
}

function measure(target: Target, threads: number, connections: number, seconds: number): Measured {
  const pids = target.pid ? processTree(target.pid) : []
  const before = cpuMs(pids)
  const result = wrk(target.url, { threads, connections, seconds, headers: target.headers })
  if (result.errors || result.non2xx)
    throw new Error(`${target.name}: ${result.errors} errors, ${result.non2xx} non-2xx`)
  return { ...result, cpuUs: ((cpuMs(pids) - before) * 1000) / result.requests }
}

/** Redis commands per proxied request, over `count` requests that all complete (4 at a time). */
async function redisPerRequest(redis: Redis, target: Target, count: number) {
  await new Promise((r) => setTimeout(r, 1000)) // let the timed runs' last requests finish
  await redis.config('RESETSTAT')
  let left = count
  const worker = async () => {
    while (left-- > 0) {
      const res = await request(target.url, { headers: target.headers })
      await res.body.dump()
      if (res.statusCode !== 200) throw new Error(`status ${res.statusCode}`)
    }
  }
  await Promise.all([worker(), worker(), worker(), worker()])
  const stats = await commandStats(redis)
  for (const own of ['config', 'config|resetstat', 'info']) delete stats[own] // the benchmark's own
  const per = (filter: (c: string) => boolean) =>
    Object.entries(stats)
      .filter(([c]) => filter(c))
      .reduce((n, [, v]) => n + v, 0) / count
  return { stats, reads: per((c) => READS.has(c)), writes: per((c) => !READS.has(c)) }
}

main(async (atExit) => {
  const cores = cpus().length
  const { redis, upstream } = await baseStack(atExit)
  const plain = await nodeServer('plain-proxy.mjs', { TARGET: upstream.url })
  atExit(() => plain.proc.kill('SIGTERM'))
  const env = testEnv({ UPSTREAMS: JSON.stringify({ up: upstream.url }), LOG_LEVEL: 'warn' })
  const one = await keyward(env, 1)
  atExit(() => one.proc.kill('SIGTERM'))
  const all = await keyward(env, cores)
  atExit(() => all.proc.kill('SIGTERM'))
  // Both keywards share one Redis and its sessions: one login serves them both.
  const headers = { cookie: await login(one.url), 'x-csrf': '1' }
  // DPoP: sessions of its own (a prefix of its own), each with its key; Keycloak binds their tokens.
  const bound = await keyward({ ...env, OIDC_DPOP: 'true', REDIS_PREFIX: `${env.REDIS_PREFIX}dpop:` }, 1)
  atExit(() => bound.proc.kill('SIGTERM'))
  const boundHeaders = { cookie: await login(bound.url), 'x-csrf': '1' }

  const targets: Target[] = [
    { name: 'upstream directly', url: `${upstream.url}/x`, pid: upstream.proc.child.pid },
    { name: 'plain Node proxy, no auth', url: `${plain.url}/x`, pid: plain.proc.child.pid },
    { name: 'keyward, 1 worker', url: `${one.url}/api/up/x`, pid: one.proc.child.pid, headers },
    { name: `keyward, ${cores} workers`, url: `${all.url}/api/up/x`, pid: all.proc.child.pid, headers },
    {
      name: 'keyward + DPoP, 1 worker',
      url: `${bound.url}/api/up/x`,
      pid: bound.proc.child.pid,
      headers: boundHeaders,
    },
  ]
  for (const t of targets) measure(t, 2, CONNECTIONS, 3) // warm-up: JIT, pools
  const runs = new Map<string, Measured[]>(targets.map((t) => [t.name, []]))
  for (const t of rotations(targets, ROUNDS)) runs.get(t.name)!.push(measure(t, 2, CONNECTIONS, SECONDS))
  const lone = new Map<string, Measured[]>(targets.slice(1, 3).map((t) => [t.name, []]))
  for (const t of rotations(targets.slice(1, 3), ROUNDS)) lone.get(t.name)!.push(measure(t, 1, 1, C1_SECONDS))
  const counted = 2000
  const redisUse = await redisPerRequest(redis.client, targets[2], counted)

  const m = (name: string, field: keyof Measured, from = runs) => median(from.get(name)!.map((r) => r[field]))
  console.log(
    `\n${machine()}; wrk -t2 -c${CONNECTIONS}, ${SECONDS} s per run, ${ROUNDS} interleaved rounds, each starting one further along (medians)\n`,
  )
  console.log('| target | req/s | p50 ms | p99 ms | CPU µs per request |\n|---|---|---|---|---|')
  for (const t of targets) {
    const ms = (us: number) => (us / 1000).toFixed(2)
    console.log(
      `| ${t.name} | ${Math.round(m(t.name, 'rps'))} | ${ms(m(t.name, 'p50'))} | ${ms(m(t.name, 'p99'))} | ${Math.round(m(t.name, 'cpuUs'))} |`,
    )
  }
  const [, p, k1, kN, kD] = targets.map((t) => t.name) as [string, string, string, string, string]
  console.log(`\none connection (wrk -t1 -c1, ${C1_SECONDS} s, ${ROUNDS} rounds, medians):\n`)
  console.log('| target | mean latency µs | p50 µs | CPU µs per request |\n|---|---|---|---|')
  for (const name of [p, k1]) {
    console.log(
      `| ${name} | ${Math.round(m(name, 'mean', lone))} | ${Math.round(m(name, 'p50', lone))} | ${Math.round(m(name, 'cpuUs', lone))} |`,
    )
  }
  console.log(`\n- 1 worker ÷ plain proxy, req/s: **${(m(k1, 'rps') / m(p, 'rps')).toFixed(2)}** (goal ≥ 0.6)`)
  console.log(`- ${cores} workers ÷ 1 worker, req/s: **${(m(kN, 'rps') / m(k1, 'rps')).toFixed(2)}**`)
  console.log(`- p99 under load, 1 worker ÷ plain proxy: **${(m(k1, 'p99') / m(p, 'p99')).toFixed(2)}** (goal ≤ 2)`)
  console.log(
    `- keyward's CPU per request, 1 worker: **${Math.round(m(k1, 'cpuUs'))} µs** under load, **${Math.round(m(k1, 'cpuUs', lone))} µs** at one connection (goal ≤ 300)`,
  )
  console.log(
    `- DPoP's proof per call, 1 worker under load: **+${Math.round(m(kD, 'cpuUs') - m(k1, 'cpuUs'))} µs** of CPU per request (${Math.round(m(kD, 'cpuUs'))} µs), req/s ÷ without: **${(m(kD, 'rps') / m(k1, 'rps')).toFixed(2)}**`,
  )
  console.log(
    `- a lone request adds **${Math.round(m(k1, 'mean', lone) - m(p, 'mean', lone))} µs** to the plain proxy's (goal ≤ 300)`,
  )
  console.log(
    `- Redis per proxied request, over ${counted} requests: **${redisUse.reads.toFixed(3)} reads, ${redisUse.writes.toFixed(3)} writes** ${JSON.stringify(redisUse.stats)}`,
  )
})
