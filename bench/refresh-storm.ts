/**
 * A refresh storm: N sessions (default 1,000) whose access tokens all expire in the same second, then
 * load that spreads over all of them, served by keyward with a worker per core (so the refreshes race
 * across processes as well as within one). Reports Keycloak's refresh count per session (from its own
 * REFRESH_TOKEN events; must be exactly 1), errors (must be 0), latency during the storm, and the
 * Redis writes each refresh cost.
 *   BENCH_SESSIONS (1000), BENCH_SECONDS (20)
 */
import { writeFileSync } from 'node:fs'
import { cpus } from 'node:os'
import { join } from 'node:path'
import { KeycloakAdmin } from '../harness/keycloak-admin'
import { tempDir } from '../harness/temp-dir'
import { testEnv } from '../harness/keyward'
import { baseStack, commandStats, keyward, login, machine, main, wrk } from './lib'
import { scanKeys } from '../harness/redis-topology'

const SESSIONS = Number(process.env.BENCH_SESSIONS ?? 1000)
const SECONDS = Number(process.env.BENCH_SECONDS ?? 20)
/** The commands that write: the lock (SET NX, its release by a script), the compare-and-set and index scripts, expiries. */
const WRITES = new Set(['set', 'evalsha', 'eval', 'del', 'pexpireat', 'zadd', 'hset'])

main(async (atExit) => {
  const { redis, upstream } = await baseStack(atExit)
  const env = testEnv({
    UPSTREAMS: JSON.stringify({ up: upstream.url }),
    LOG_LEVEL: 'warn',
    // A storm of 1,000 refreshes queues at Keycloak: allow the slowest its time.
    OIDC_TIMEOUT_SECONDS: '30',
    REFRESH_LOCK_TTL_MS: '35000',
    REFRESH_WAIT_MS: '30000',
    SHUTDOWN_GRACE_SECONDS: '40',
    // Every login is alice's: no cap on her sessions (the default, 50, would end all but the last 50).
    MAX_SESSIONS_PER_USER: '0',
  })
  const kw = await keyward(env, cpus().length)
  atExit(() => kw.proc.kill('SIGTERM'))
  const admin = new KeycloakAdmin()

  const started = Date.now()
  const cookies: string[] = []
  for (let i = 0; i < SESSIONS; i += 10) {
    cookies.push(...(await Promise.all(Array.from({ length: Math.min(10, SESSIONS - i) }, () => login(kw.url)))))
  }
  console.log(`${SESSIONS} logins in ${((Date.now() - started) / 1000).toFixed(1)} s`)
  const file = join(tempDir('storm'), 'cookies.txt')
  writeFileSync(file, cookies.join('\n'))

  // Every session's access token "expires" now: the stored expiry is moved to this second, which is
  // exactly what keyward reads to decide (the tokens themselves are still valid at Keycloak).
  const keys = await scanKeys(redis.client, `${env.REDIS_PREFIX}tok:*`)
  const stormAt = Date.now() + 1000
  const sids: string[] = []
  for (const key of keys) {
    const meta = JSON.parse((await redis.client.hget(key, 'm'))!) as { sid: string }
    sids.push(meta.sid)
    const moved = { ...meta, accessExpiresAt: stormAt, refreshedAt: stormAt - 300_000 }
    await redis.client.hset(key, 'm', JSON.stringify(moved))
  }
  await new Promise((r) => setTimeout(r, stormAt - Date.now() + 10))
  await redis.client.config('RESETSTAT')
  const result = wrk(`${kw.url}/api/up/items`, {
    threads: 2,
    connections: 100,
    seconds: SECONDS,
    headers: { 'x-csrf': '1' },
    cookiesFile: file,
    // Requests wait for the refresh of their session; what counts is whether they fail, not how long.
    timeoutSeconds: 35,
  })

  // Writes come from refreshes alone (a proxied request only reads its session): their count per refresh.
  const stats = await commandStats(redis.client)
  const writes = Object.entries(stats).filter(([command]) => WRITES.has(command))

  const events = await admin.call<{ sessionId: string; time: number }[]>(
    'GET',
    `/events?type=REFRESH_TOKEN&client=keyward-web&dateFrom=${new Date(started).toISOString().slice(0, 10)}&max=${SESSIONS * 5}`,
  )
  const mine = new Set(sids)
  const perSession = new Map<string, number>()
  for (const e of events) if (mine.has(e.sessionId)) perSession.set(e.sessionId, (perSession.get(e.sessionId) ?? 0) + 1)
  const counts = [...mine].map((sid) => perSession.get(sid) ?? 0)
  const histogram = counts.reduce<Record<number, number>>((h, c) => ({ ...h, [c]: (h[c] ?? 0) + 1 }), {})
  const stormEnd = Math.max(...events.filter((e) => mine.has(e.sessionId)).map((e) => e.time))

  console.log(
    `\n${machine()}; ${SESSIONS} sessions, keyward with ${cpus().length} workers, wrk -t2 -c100, ${SECONDS} s\n`,
  )
  console.log(
    `requests: ${result.requests} (${Math.round(result.rps)}/s), errors: ${result.errors}, non-2xx: ${result.non2xx}`,
  )
  console.log(
    `latency during the run: p50 ${(result.p50 / 1000).toFixed(1)} ms, p99 ${(result.p99 / 1000).toFixed(1)} ms`,
  )
  console.log(`Keycloak refreshes per session (count: sessions): ${JSON.stringify(histogram)}`)
  console.log(`all ${SESSIONS} refreshes done ${((stormEnd - stormAt) / 1000).toFixed(1)} s after the common expiry`)
  if (result.errors || result.non2xx || histogram[1] !== SESSIONS) {
    throw new Error(
      `the storm failed: ${result.errors} errors, ${result.non2xx} non-2xx, refreshes ${JSON.stringify(histogram)}`,
    )
  }
  const refreshes = counts.reduce((a, b) => a + b, 0)
  console.log(
    `Redis writes per refresh: ${(writes.reduce((n, [, calls]) => n + calls, 0) / refreshes).toFixed(2)} (${writes.map(([c, n]) => `${c} ${(n / refreshes).toFixed(2)}`).join(', ')}); reads (hgetall) per request: ${((stats.hgetall ?? 0) / result.requests).toFixed(3)}`,
  )
})
