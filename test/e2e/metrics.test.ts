import { readFileSync } from 'node:fs'
import { get } from 'node:http'
import { Redis } from 'ioredis'
import { Browser } from '../../harness/browser'
import { redisUrl, testEnv } from '../../harness/keyward'
import { startKeywardProcess, type KeywardProcess } from '../../harness/keyward-process'
import { findJwts } from '../../harness/leaks'
import { workersOf } from '../../harness/processes'
import { freePort } from '../../harness/redis-server'
import { scanKeys } from '../../harness/redis-topology'
import { Upstream } from '../../harness/upstream'
import { api, SHORT_CLIENT, waitUntil } from '../support/refresh-fixture'

/** The samples of one metric in a Prometheus text exposition: labels (sorted, as `k="v",…`) → value. */
function series(exposition: string, name: string): Record<string, number> {
  const out: Record<string, number> = {}
  for (const line of exposition.split('\n')) {
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line)
    if (!match || match[1] !== name) continue
    const labels = (match[2] ?? '')
      .split(/,(?=\w+=")/)
      .filter(Boolean)
      .sort()
      .join(',')
    out[labels] = Number(match[3])
  }
  return out
}

/** GET over a connection of its own: the cluster primary hands each new connection to the next worker. */
const onNewConnection = (url: string): Promise<number> =>
  new Promise((resolve, reject) => {
    get(url, { agent: false }, (res) => {
      res.resume()
      res.on('end', () => resolve(res.statusCode!))
    }).on('error', reject)
  })

describe('GET /metrics, on a listener of its own', () => {
  let upstream: Upstream
  const running: KeywardProcess[] = []
  beforeAll(async () => {
    upstream = await Upstream.start()
  })
  afterEach(async () => Promise.all(running.splice(0).map((p) => p.kill())))
  afterAll(() => upstream.close())

  async function start(overrides: Record<string, string>) {
    const [port, metricsPort] = [await freePort(), await freePort()]
    const url = `http://127.0.0.1:${port}`
    const env = testEnv({
      ...SHORT_CLIENT,
      UPSTREAMS: JSON.stringify({ echo: upstream.url }),
      METRICS_PORT: String(metricsPort),
      LOG_LEVEL: 'info',
      ...overrides,
    })
    const proc = await startKeywardProcess(url, env)
    running.push(proc)
    const metrics = async () => {
      const res = await fetch(`http://127.0.0.1:${metricsPort}/metrics`)
      expect(res.status).toBe(200)
      expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/)
      return res.text()
    }
    return { url, env, proc, metricsPort, metrics }
  }

  test('a login, an API call, a refresh and a logout are counted as such, with bounded labels only', async () => {
    const { url, env, metricsPort, metrics } = await start({})
    expect((await fetch(`${url}/metrics`)).status).toBe(404) // the app's listener has no metrics
    expect((await fetch(`http://127.0.0.1:${metricsPort}/`)).status).toBe(404)

    const browser = new Browser()
    await browser.login(url, 'alice', 'alice-password')
    expect((await browser.request(`${url}/api/echo/me?x=1`, { headers: api })).status).toBe(200)
    const redis = new Redis(redisUrl())
    let stored: { id: string; sub: string; sid: string }
    try {
      const [key] = await scanKeys(redis, `${env.REDIS_PREFIX}tok:*`)
      const meta = JSON.parse((await redis.hget(key, 'm'))!) as { sub: string; sid: string; accessExpiresAt: number }
      stored = { id: key.slice(key.indexOf('{') + 1, -1), sub: meta.sub, sid: meta.sid }
      await new Promise((r) => setTimeout(r, Math.max(0, meta.accessExpiresAt - Date.now() + 200)))
    } finally {
      redis.disconnect()
    }
    expect((await browser.request(`${url}/api/echo/me`, { headers: api })).status).toBe(200) // refreshed first
    expect((await browser.request(`${url}/auth/logout`, { method: 'POST', headers: api })).status).toBe(200)
    const refused = await fetch(`${url}/auth/backchannel-logout`, {
      method: 'POST',
      body: new URLSearchParams({ logout_token: 'not-a-token' }),
    })
    expect(refused.status).toBe(400)

    const text = await metrics()
    const requests = series(text, 'keyward_http_requests_total')
    for (const readiness of Object.keys(requests).filter((k) => k.includes('route="/readyz"'))) {
      delete requests[readiness] // the start-up polls, as many as it took
    }
    expect(requests).toEqual({
      'route="/auth/login",status="302"': 1,
      'route="/auth/callback",status="302"': 1,
      'route="other",status="404"': 2, // the login's landing page /welcome (no STATIC_DIR), and /metrics
      'route="/api/:upstream/*",status="200"': 2,
      'route="/auth/logout",status="200"': 1,
      'route="/auth/backchannel-logout",status="400"': 1,
    })
    expect(series(text, 'keyward_http_request_duration_seconds_count')).toMatchObject({
      'route="/api/:upstream/*"': 2,
    })
    expect(series(text, 'keyward_sessions_created_total')).toEqual({
      'app="web",kind="online",via="browser_login"': 1,
    })
    expect(series(text, 'keyward_sessions_ended_total')).toEqual({ 'app="web",kind="online",reason="logout"': 1 })
    expect(series(text, 'keyward_refresh_duration_seconds_count')).toEqual({ 'outcome="ok"': 1 })
    expect(series(text, 'keyward_upstream_request_duration_seconds_count')).toEqual({
      'outcome="2xx",upstream="echo"': 2,
    })
    expect(series(text, 'keyward_backchannel_logouts_total')).toEqual({ 'outcome="refused"': 1 })
    for (const none of [
      'keyward_refresh_lock_wait_seconds_count',
      'keyward_keycloak_errors_total',
      'keyward_token_exchanges_total',
      'keyward_handoffs_total',
    ]) {
      expect({ [none]: series(text, none) }).toEqual({ [none]: {} })
    }
    expect(Object.keys(series(text, 'nodejs_eventloop_lag_seconds'))).toHaveLength(1)
    // Redis commands timed by name (the session reads, the refresh's script, the lock), none failed.
    const commands = series(text, 'keyward_redis_command_duration_seconds_count')
    for (const command of ['hgetall', 'evalsha', 'set', 'del']) {
      expect({ command, timed: (commands[`command="${command}"`] ?? 0) > 0 }).toEqual({ command, timed: true })
    }
    expect(series(text, 'keyward_redis_errors_total')).toEqual({})

    // Nothing about who or what: no session id, user, Keycloak session, path, client address or token.
    for (const secret of [stored.id, stored.sub, stored.sid, 'alice', '/me', 'x=1', '/welcome', '127.0.0.1']) {
      expect({ secret, found: text.includes(secret) }).toEqual({ secret, found: false })
    }
    expect(findJwts(text)).toEqual([])
  })

  test('WORKERS=2: the primary serves the sum of both workers; the workers serve no metrics', async () => {
    const { url, proc, metrics } = await start({ WORKERS: '2' })
    await waitUntil(async () => workersOf(proc.child.pid!).length === 2, 10_000)
    // Each worker must be ready: until then, a connection handed to it gets 503.
    await waitUntil(
      async () => (await Promise.all([1, 2].map(() => onNewConnection(`${url}/readyz`)))).every((s) => s === 200),
      20_000,
    )
    for (let i = 0; i < 10; i++) expect(await onNewConnection(`${url}/healthz`)).toBe(200)
    expect(await onNewConnection(`${url}/metrics`)).toBe(404)

    // Connections alternate between the workers, so each counted about half: only a sum makes ten.
    const text = await metrics()
    expect(series(text, 'keyward_http_requests_total')).toMatchObject({
      'route="/healthz",status="200"': 10,
      'route="other",status="404"': 1,
    })
    // Both workers' registries are in the sum: each reports the open-file limit it inherited from here.
    const maxFds = Number(/^Max open files\s+(\d+)/m.exec(readFileSync('/proc/self/limits', 'utf8'))![1])
    expect(series(text, 'process_max_fds')).toEqual({ '': 2 * maxFds })
  })
})
