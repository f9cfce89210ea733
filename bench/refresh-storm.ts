/**
 * A refresh storm: N sessions (default 1,000) whose access tokens all expire in the same second,
 * under load. Reports Keycloak's refresh count per session (from its own REFRESH_TOKEN events; must
 * be exactly 1), errors (must be 0), and request latency during the storm. Run with `npm run bench`.
 */
import { KeycloakAdmin } from '../harness/keycloak-admin'
import { load, login, machine, main, withStack } from './lib'

const SESSIONS = Number(process.env.BENCH_SESSIONS ?? 1000)

main(() =>
  withStack(
    {
      // A storm of 1,000 refreshes queues at Keycloak: allow the slowest its time.
      OIDC_TIMEOUT_SECONDS: '30',
      REFRESH_LOCK_TTL_MS: '35000',
      REFRESH_WAIT_MS: '30000',
      SHUTDOWN_GRACE_SECONDS: '40',
    },
    async ({ url, env, redis }) => {
      const admin = new KeycloakAdmin()
      const started = Date.now()
      const cookies: string[] = []
      for (let i = 0; i < SESSIONS; i += 10) {
        cookies.push(...(await Promise.all(Array.from({ length: Math.min(10, SESSIONS - i) }, () => login(url)))))
      }
      console.log(`${SESSIONS} logins in ${((Date.now() - started) / 1000).toFixed(1)} s`)

      // Every session's access token "expires" now: the stored expiry is moved to this second, which is
      // exactly what keyward reads to decide (the tokens themselves are still valid at Keycloak).
      const keys = await redis.keys(`${env.REDIS_PREFIX}tok:*`)
      const stormAt = Date.now() + 1000
      const sids: string[] = []
      for (const key of keys) {
        const meta = JSON.parse((await redis.hget(key, 'm'))!)
        sids.push(meta.sid)
        await redis.hset(
          key,
          'm',
          JSON.stringify({ ...meta, accessExpiresAt: stormAt, refreshedAt: stormAt - 300_000 }),
        )
      }
      await new Promise((r) => setTimeout(r, stormAt - Date.now() + 10))

      let next = 0
      const result = await load({
        url: `${url}/api/echo/items`,
        connections: 100,
        duration: Number(process.env.BENCH_SECONDS ?? 20),
        requests: [
          {
            setupRequest: (req) => ({
              ...req,
              headers: { ...req.headers, 'x-csrf': '1', cookie: cookies[next++ % cookies.length] },
            }),
          },
        ],
      })

      const events = await admin.call<{ sessionId: string; time: number }[]>(
        'GET',
        `/events?type=REFRESH_TOKEN&client=keyward-web&dateFrom=${new Date(started).toISOString().slice(0, 10)}&max=${SESSIONS * 5}`,
      )
      const mine = new Set(sids)
      const perSession = new Map<string, number>()
      for (const e of events)
        if (mine.has(e.sessionId)) perSession.set(e.sessionId, (perSession.get(e.sessionId) ?? 0) + 1)
      const counts = [...mine].map((sid) => perSession.get(sid) ?? 0)
      const histogram = counts.reduce<Record<number, number>>((h, c) => ({ ...h, [c]: (h[c] ?? 0) + 1 }), {})
      const stormEnd = Math.max(...events.filter((e) => mine.has(e.sessionId)).map((e) => e.time))

      console.log(`\n${machine()}; ${SESSIONS} sessions, 100 connections, load generator on the same machine\n`)
      console.log(`requests: ${result.requests} (${result.rps}/s), errors: ${result.errors}, non-2xx: ${result.non2xx}`)
      console.log(`latency during the run: p50 ${result.p50} ms, p99 ${result.p99} ms`)
      console.log(`Keycloak refreshes per session (count: sessions): ${JSON.stringify(histogram)}`)
      console.log(
        `all ${SESSIONS} refreshes done ${((stormEnd - stormAt) / 1000).toFixed(1)} s after the common expiry`,
      )
    },
  ),
)
