/**
 * What sessions cost as they grow: Redis memory per web session with Keycloak's real tokens (every key
 * of the session counted by MEMORY USAGE: the token session, the cookie session, both indexes), then
 * the fresh-token hot path with 10,000 and with 100,000 sessions stored (req/s and p99 over the same
 * 1,000 active sessions, with keyward's session cache on and off), and keyward's resident memory
 * after requests from 10,000 different sessions. Run with `npm run bench`.
 *   BENCH_SECONDS (5), BENCH_ROUNDS (7), BENCH_LOGINS (10), BENCH_STORED (100000)
 */
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Redis } from 'ioredis'
import { tempDir } from '../harness/temp-dir'
import { testEnv, testSealer } from '../harness/keyward'
import { redisKeys } from '../src/store/keys'
import { createTokenSessionStore } from '../src/store/token-sessions'
import { scanKeys } from '../harness/redis-topology'
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
  rssMiB,
  wrk,
} from './lib'

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5)
const LOGINS = Number(process.env.BENCH_LOGINS ?? 10)
const STORED = Number(process.env.BENCH_STORED ?? 100_000)
const ACTIVE = 1000
const TEN_THOUSAND = 10_000
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 7)

async function memoryUsage(redis: Redis, pattern: string): Promise<{ bytes: number; keys: Record<string, number> }> {
  const keys: Record<string, number> = {}
  for (const key of await scanKeys(redis, pattern)) {
    const kind = /:(tok|sess|idx:sub|idx:sid):/.exec(key)?.[1] ?? 'other'
    keys[kind] = (keys[kind] ?? 0) + Number(await redis.memory('USAGE', key, 'SAMPLES', '0'))
  }
  return { bytes: Object.values(keys).reduce((a, b) => a + b, 0), keys }
}

main(async (atExit) => {
  ensureWrk()
  keycloak()
  // Two Redis servers with the same 1,000 active sessions: one holds 10,000 sessions, the other 100,000.
  const small = await privateRedis()
  const large = await privateRedis()
  for (const r of [small, large]) atExit(async () => (r.client.disconnect(), r.server.stop()))
  const upstream = await nodeServer('echo-upstream.mjs')
  atExit(() => upstream.proc.kill('SIGTERM'))
  const env = testEnv({ UPSTREAMS: JSON.stringify({ up: upstream.url }), LOG_LEVEL: 'warn' })
  const keywards: { name: string; stored: number; url: string; pid: number }[] = []
  for (const [redis, stored] of [
    [small, TEN_THOUSAND],
    [large, STORED],
  ] as const) {
    for (const [name, cacheMs] of [
      ['cache on', '1000'],
      ['cache off', '0'],
    ] as const) {
      const kw = await keyward({ ...env, REDIS_URL: redis.url, SESSION_CACHE_MS: cacheMs }, 1)
      atExit(() => kw.proc.kill('SIGTERM'))
      keywards.push({ name, stored, url: kw.url, pid: kw.proc.child.pid! })
    }
  }

  // 1. Memory per web session: real logins, each its own Keycloak session.
  const [first] = keywards
  for (let i = 0; i < LOGINS; i++) await login(first.url, i % 2 ? 'bob' : 'alice')
  const memory = await memoryUsage(small.client, `${env.REDIS_PREFIX}*`)
  const perSession = memory.bytes / LOGINS

  // 2. Synthetic sessions, copies of a real one (fresh for an hour, so no refresh runs), each with a
  //    cookie of its own signed with the SESSION_SECRET keyward verifies.
  const keys = redisKeys(env.REDIS_PREFIX)
  const stores = [small, large].map((r) => createTokenSessionStore(r.client, keys, testSealer()))
  const [key] = await scanKeys(small.client, `${env.REDIS_PREFIX}tok:*`)
  const real = (await stores[0].get(key.slice(key.indexOf('{') + 1, -1)))!
  const secret = env.SESSION_SECRET.split(',')[0]
  // In both: the 10,000 sessions of the memory run (the first 1,000 are the active ones); then the rest.
  const cookies = await copySessions(real, TEN_THOUSAND, stores, secret)
  await copySessions(real, STORED - TEN_THOUSAND, [stores[1]], secret, TEN_THOUSAND)
  const dir = tempDir('bench')
  const cookieFile = (n: number) => {
    const file = join(dir, `cookies-${n}.txt`)
    writeFileSync(file, cookies.slice(0, n).join('\n'))
    return file
  }
  const active = cookieFile(ACTIVE)
  const run = (url: string, file: string) => {
    const r = wrk(`${url}/api/up/x`, {
      threads: 2,
      connections: 32,
      seconds: SECONDS,
      headers: { 'x-csrf': '1' },
      cookiesFile: file,
    })
    if (r.errors || r.non2xx) throw new Error(`${r.errors} errors, ${r.non2xx} answers other than 2xx`)
    return r
  }
  for (const kw of keywards) run(kw.url, active) // warm-up
  const results = new Map<(typeof keywards)[number], ReturnType<typeof run>[]>(keywards.map((k) => [k, []]))
  for (const kw of rotations(keywards, ROUNDS)) results.get(kw)!.push(run(kw.url, active))

  // 3. keyward's memory after requests from 10,000 different sessions (cache on, 100,000 stored).
  const big = keywards.find((k) => k.name === 'cache on' && k.stored === STORED)!
  const rssBefore = rssMiB([big.pid])
  const tenThousand = run(big.url, cookieFile(TEN_THOUSAND))
  const rssAfter = rssMiB([big.pid])
  // What Redis itself says it holds for the stored sessions, its own bookkeeping (key tables, expiries)
  // included, which MEMORY USAGE leaves out; the copies have no express-session record.
  const usedMemory = async (r: typeof small) => Number(/^used_memory:(\d+)/m.exec(await r.client.info('memory'))![1])
  const perStored = ((await usedMemory(large)) - (await usedMemory(small))) / (STORED - TEN_THOUSAND)

  const med = (kw: (typeof keywards)[number], f: 'rps' | 'p50' | 'p99') => median(results.get(kw)!.map((r) => r[f]))
  const byKey = Object.fromEntries(Object.entries(memory.keys).map(([k, v]) => [k, Math.round(v / LOGINS)]))
  console.log(`\n${machine()}\n`)
  console.log(`Redis memory per web session (${LOGINS} real logins, every key they made, MEMORY USAGE):`)
  console.log(
    `**${Math.round(perSession)} bytes** (${(perSession / 1024).toFixed(2)} KiB; goal ≤ 4 KiB), by key: ${JSON.stringify(byKey)}\n`,
  )
  console.log(
    `Fresh-token proxied GETs over the same ${ACTIVE} active sessions, wrk -t2 -c32, ${SECONDS} s, 1 worker, ${ROUNDS} interleaved rounds, each starting one further along (medians):\n`,
  )
  console.log('| session cache | sessions stored | req/s | p50 ms | p99 ms |\n|---|---|---|---|---|')
  for (const kw of keywards) {
    console.log(
      `| ${kw.name} | ${kw.stored.toLocaleString('en')} | ${Math.round(med(kw, 'rps'))} | ${(med(kw, 'p50') / 1000).toFixed(2)} | ${(med(kw, 'p99') / 1000).toFixed(2)} |`,
    )
  }
  for (const name of ['cache on', 'cache off']) {
    const [few, many] = keywards.filter((k) => k.name === name)
    console.log(
      `- ${name}, ${STORED.toLocaleString('en')} ÷ ${TEN_THOUSAND.toLocaleString('en')} stored: req/s **${(med(many, 'rps') / med(few, 'rps')).toFixed(2)}**, p99 **${(med(many, 'p99') / med(few, 'p99')).toFixed(2)}** (goal: within 10 %)`,
    )
  }
  console.log(
    `\nRedis used_memory per stored session copy (100,000 stored less 10,000, token session and both indexes): **${Math.round(perStored)} bytes**`,
  )
  console.log(
    `\nkeyward's resident memory (1 worker, cache on): ${rssBefore.toFixed(0)} MiB before, **${rssAfter.toFixed(0)} MiB** after ${SECONDS} s of requests spread over 10,000 different sessions (${Math.round(tenThousand.rps)} req/s, p99 ${(tenThousand.p99 / 1000).toFixed(2)} ms)`,
  )
})
