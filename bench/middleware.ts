/**
 * keyward as Express middleware beside express-openid-connect and keycloak-connect. Four Express apps,
 * each its own process on loopback, each with one handler, `GET /fresh`, that needs a fresh access
 * token and calls the echo upstream with it (bench/middleware/*-app.ts): keyward, express-openid-connect
 * (connect-redis as its session store), keycloak-connect (express-session with connect-redis), and the
 * same app without auth, the limit.
 *
 * A. The fresh path (client keyward-web, 300 s access tokens), on two handlers: `/fresh` (the token,
 *    then the upstream call) and `/token` (the token alone: what the middleware costs, with no upstream
 *    to hide it): wrk -t2 -c32 in interleaved rounds,
 *    each starting one app further along; medians of req/s, p50/p99 and the app process's CPU per
 *    request (its utime + stime from /proc over the run, divided by the requests wrk completed).
 * B. At expiry, with refresh-token rotation (client keyward-short, 10 s access tokens): two processes
 *    of the same app on one Redis, one login, its access token left to expire, then 50 requests at once
 *    (25 to each process) with the session's cookie: what they answered, the refreshes Keycloak
 *    recorded for the session (its REFRESH_TOKEN and REFRESH_TOKEN_ERROR events), and whether the
 *    session still answers 200 on each process 2 s later.
 *
 * keycloak-connect sends no PKCE, and the realm's clients require it (S256), so it cannot log in with
 * them: it gets copies of keyward-web and keyward-short without that requirement (same secrets, same
 * token lifetimes), made in Keycloak for the run and deleted at its end, as are the Keycloak sessions
 * the run's logins made.
 *
 * Exits 1, saying why, when an app cannot log in, or when keyward fails a request (fresh path or
 * expiry); the peers' failures are what is measured.
 *   BENCH_ROUNDS (5), BENCH_SECONDS (10), BENCH_CONNECTIONS (32), BENCH_EXPIRY_ROUNDS (3),
 *   BENCH_PARTS (`fresh,expiry`: which of A and B to run), BENCH_PATHS (`/fresh,/token`: A's handlers)
 */
import { execFileSync, spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { readFileSync, rmSync } from 'node:fs'
import { loadavg } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import type { Redis } from 'ioredis'
import { request } from 'undici'
import { Browser } from '../harness/browser'
import { KeycloakAdmin } from '../harness/keycloak-admin'
import { TEST_KEYS, keycloakUrl, waitUntil } from '../harness/keyward'
import { spawnTracked, type TrackedProcess } from '../harness/processes'
import { freePort } from '../harness/redis-server'
import {
  baseStack,
  commandStats,
  cpuMs,
  machine,
  main,
  median,
  processTree,
  rotations,
  wrk,
  type AtExit,
  type WrkResult,
} from './lib'

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5)
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10)
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 32)
const EXPIRY_ROUNDS = Number(process.env.BENCH_EXPIRY_ROUNDS ?? 3)
const PARTS = new Set((process.env.BENCH_PARTS ?? 'fresh,expiry').split(','))
const PATHS = (process.env.BENCH_PATHS ?? '/fresh,/token').split(',')
/** Requests sent at once when the access token has expired, half to each process. */
const BURST = 50
/**
 * A session of the fresh path is replaced by a new login once this old, so that no 300 s access token
 * comes near its expiry during a run (the peers would refresh it, and race, under load).
 */
const RELOGIN_AFTER_MS = 120_000

const root = join(__dirname, '..')
const version = (pkg: string): string =>
  (JSON.parse(readFileSync(join(root, 'node_modules', pkg, 'package.json'), 'utf8')) as { version: string }).version

interface Kind {
  name: string
  file: string
  /** Where a browser's login starts (it ends back at /fresh); none for the app without auth. */
  loginPath?: string
}

const KEYWARD: Kind = { name: 'keyward middleware', file: 'keyward-app.ts', loginPath: '/auth/login?returnTo=/fresh' }
// Both peers send a browser that GETs a protected page to Keycloak, and back to that page.
const EOC: Kind = {
  name: `express-openid-connect ${version('express-openid-connect')}`,
  file: 'eoc-app.ts',
  loginPath: '/fresh',
}
const KCC: Kind = {
  name: `keycloak-connect ${version('keycloak-connect')}`,
  file: 'keycloak-connect-app.ts',
  loginPath: '/fresh',
}
const NO_AUTH: Kind = { name: 'no auth', file: 'no-auth-app.ts' }

const SECRETS: Record<string, string> = {
  'keyward-web': 'keyward-web-dev-secret',
  'keyward-short': 'keyward-short-dev-secret',
}

/** One process of one app. */
interface App {
  kind: Kind
  url: string
  proc: TrackedProcess
}

/** A logged-in session: its Cookie header, its Keycloak session, its access token's expiry. */
interface Login {
  cookie: string
  sid: string
  accessExpiresAt: number
  /** When the login was done. */
  at: number
  /** What the app answered the same request without the cookie. */
  anonymousStatus: number | string
}

/** What the run shares: Redis (a client of its own, for INFO commandstats), the upstream, Keycloak's admin API. */
interface Stack {
  redis: Redis
  redisUrl: string
  upstreamUrl: string
  atExit: AtExit
  admin: KeycloakAdmin
  /** The Keycloak sessions the run's logins made, ended at exit. */
  sids: Set<string>
}

/** Starts `kind` as its own process (`node --import tsx`) on a free port; resolves once it listens. */
async function startApp(stack: Stack, kind: Kind, env: Record<string, string>): Promise<App> {
  const port = await freePort()
  const proc = spawnTracked(process.execPath, ['--import', 'tsx', join(__dirname, 'middleware', kind.file)], {
    cwd: root,
    env: { ...env, PORT: String(port), NODE_ENV: 'production' },
    label: kind.file,
  })
  stack.atExit(() => proc.kill('SIGTERM'))
  // keyward listens once Redis and Keycloak's discovery answer; tsx compiles the sources first.
  await waitUntil(() => proc.output().includes('listening') || proc.child.exitCode !== null, 60_000, 50)
  if (!proc.output().includes('listening')) throw new Error(`${kind.name} did not start:\n${proc.output()}`)
  return { kind, url: `http://127.0.0.1:${port}`, proc }
}

/**
 * The environment of one app's processes: its Keycloak client (`clientId`, with the secret of the
 * realm's client `secretOf`, which it is or copies), its own Redis prefix and secrets. The two
 * processes of the expiry test get the same one, so each accepts the other's cookie and sessions.
 */
function appEnv(stack: Stack, clientId: string, secretOf: string): Record<string, string> {
  return {
    KEYCLOAK_URL: keycloakUrl(),
    REDIS_URL: stack.redisUrl,
    UPSTREAM_URL: stack.upstreamUrl,
    CLIENT_ID: clientId,
    CLIENT_SECRET: SECRETS[secretOf],
    REDIS_PREFIX: `mw:${randomBytes(4).toString('hex')}:`,
    SESSION_SECRET: randomBytes(32).toString('hex'),
    TOKEN_KEYS: TEST_KEYS,
  }
}

/**
 * The status of `GET url`, or what went wrong when there was none; a redirect says where to (Keycloak's
 * login, or a path of the app). The body is read and dropped.
 */
async function statusOf(url: string, cookie?: string): Promise<number | string> {
  try {
    const res = await request(url, { headers: cookie ? { cookie } : {}, headersTimeout: 30_000 })
    await res.body.dump()
    const location = res.headers.location
    if (typeof location !== 'string') return res.statusCode
    const to = new URL(location, url)
    return `${res.statusCode} to ${to.pathname.endsWith('/protocol/openid-connect/auth') ? "Keycloak's login" : to.pathname}`
  } catch (err) {
    return `error ${(err as { code?: string }).code ?? String(err)}`
  }
}

/**
 * A real login through Keycloak's form with a new browser (so a new Keycloak session), started on
 * `app`; then the session must answer 200 on every process of `apps`, and a request without the
 * cookie must not. Throws, naming the app, when any of that fails.
 */
async function logIn(stack: Stack, app: App, apps: App[] = [app]): Promise<Login> {
  const browser = new Browser()
  try {
    await browser.login(app.url, 'alice', 'alice-password', app.kind.loginPath)
  } catch (err) {
    throw new Error(`${app.kind.name} cannot log in: ${(err as Error).message}`, { cause: err })
  }
  const cookie = await browser.jar.getCookieString(app.url)
  for (const each of apps) {
    const status = await statusOf(`${each.url}/fresh`, cookie)
    if (status !== 200) throw new Error(`${app.kind.name} answered ${status} to its own session after the login`)
  }
  const anonymousStatus = await statusOf(`${app.url}/fresh`)
  if (anonymousStatus === 200) throw new Error(`${app.kind.name} answered 200 without a session`)
  const res = await request(`${app.url}/sid`, { headers: { cookie } })
  const { sid, exp } = (await res.body.json()) as { sid: string; exp: number }
  stack.sids.add(sid)
  return { cookie, sid, accessExpiresAt: exp * 1000, at: Date.now(), anonymousStatus }
}

/**
 * A copy of `clientId` without its PKCE requirement, for keycloak-connect (which sends no PKCE); its
 * client id. Deleted at exit. Its back-channel logout URL is dropped too (it names keyward's route).
 */
async function withoutPkce(stack: Stack, clientId: string): Promise<string> {
  const { id: _id, access: _access, ...client } = await stack.admin.client(clientId)
  const copy = `bench-mw-${clientId}-${randomBytes(3).toString('hex')}`
  const attributes = { ...(client.attributes as Record<string, string>) }
  delete attributes['pkce.code.challenge.method']
  delete attributes['backchannel.logout.url']
  // Its protocol mappers (audiences: the same tokens) are copied without their ids, which are the original's.
  const protocolMappers = ((client.protocolMappers ?? []) as { id?: string }[]).map(({ id: _, ...mapper }) => mapper)
  const name = `${copy} (bench/middleware.ts)`
  await stack.admin.call('POST', '/clients', { ...client, clientId: copy, name, attributes, protocolMappers })
  stack.atExit(async () => stack.admin.call('DELETE', `/clients/${(await stack.admin.client(copy)).id}`))
  return copy
}

// ---------------------------------------------------------------------------------------------------
// A. The fresh path

interface Target {
  app: App
  /** The handler measured: `/fresh` or `/token`. */
  path: string
  login?: Login
  runs: Measured[]
  /** What went wrong: wrk's non-2xx answers and errors, a session that no longer answered 200. */
  failures: string[]
}

interface Measured extends WrkResult {
  /** CPU time of the app's process per request, in microseconds. */
  cpuUs: number
  /** Commands the app sent to Redis per request (the benchmark's own left out). */
  redisPerRequest: number
  /** The same, by command: calls in the run. */
  redisCommands: Record<string, number>
}

/** One wrk run against the target's handler with its session's cookie; a new login first when due. */
async function measure(stack: Stack, target: Target, seconds: number): Promise<Measured> {
  const { app } = target
  if (target.login && Date.now() - target.login.at > RELOGIN_AFTER_MS) target.login = await logIn(stack, app)
  const pids = processTree(app.proc.child.pid!)
  await stack.redis.config('RESETSTAT')
  const before = cpuMs(pids)
  const headers = target.login ? { cookie: target.login.cookie } : undefined
  const result = wrk(`${app.url}${target.path}`, { threads: 2, connections: CONNECTIONS, seconds, headers })
  const cpuUs = ((cpuMs(pids) - before) * 1000) / result.requests
  const stats = await commandStats(stack.redis)
  for (const own of ['config', 'config|resetstat', 'info']) delete stats[own]
  const redisPerRequest = Object.values(stats).reduce((a, b) => a + b, 0) / result.requests
  const run = { ...result, cpuUs, redisPerRequest, redisCommands: stats }
  if (run.non2xx || run.errors) target.failures.push(`${run.non2xx} non-2xx, ${run.errors} errors in a run`)
  // wrk counts a 3xx as a success: the session must still answer 200 after the run.
  const after = await statusOf(`${app.url}${target.path}`, target.login?.cookie)
  if (after !== 200) target.failures.push(`answered ${after} after a run`)
  return run
}

async function freshPath(stack: Stack, clients: { web: string; kccWeb: string }): Promise<Target[]> {
  const apps = [
    await startApp(stack, KEYWARD, appEnv(stack, clients.web, clients.web)),
    await startApp(stack, EOC, appEnv(stack, clients.web, clients.web)),
    await startApp(stack, KCC, appEnv(stack, clients.kccWeb, clients.web)),
    await startApp(stack, NO_AUTH, appEnv(stack, clients.web, clients.web)),
  ]
  const targets: Target[] = []
  for (const path of PATHS) {
    for (const app of apps) {
      const login = app.kind.loginPath ? await logIn(stack, app) : undefined
      targets.push({ app, path, login, runs: [], failures: [] })
    }
  }
  for (const t of targets) await measure(stack, t, 3) // warm-up: JIT, pools
  for (const t of targets) t.failures.length = 0
  for (const t of rotations(targets, ROUNDS)) t.runs.push(await measure(stack, t, SECONDS))
  for (const app of apps) await app.proc.kill('SIGTERM')
  return targets
}

/** Part A's tables, one per handler. */
function printFreshPath(all: Target[]): void {
  for (const path of PATHS) printHandler(all.filter((t) => t.path === path))
}

function printHandler(targets: Target[]): void {
  const m = (t: Target, field: keyof WrkResult | 'cpuUs' | 'redisPerRequest') => median(t.runs.map((r) => r[field]))
  const ms = (us: number) => (us / 1000).toFixed(2)
  console.log(
    `\nA. Fresh path, \`GET ${targets[0].path}\`: wrk -t2 -c${CONNECTIONS}, ${SECONDS} s per run, ${ROUNDS} interleaved rounds, medians\n`,
  )
  console.log(
    '| app | req/s | p50 ms | p99 ms | CPU µs per request | Redis commands per request | req/s per round | failures |\n|---|---|---|---|---|---|---|---|',
  )
  for (const t of targets) {
    const perRound = t.runs.map((r) => Math.round(r.rps)).join(', ')
    console.log(
      `| ${t.app.kind.name} | ${Math.round(m(t, 'rps'))} | ${ms(m(t, 'p50'))} | ${ms(m(t, 'p99'))} | ${Math.round(m(t, 'cpuUs'))} | ${m(t, 'redisPerRequest').toFixed(2)} | ${perRound} | ${t.failures.join('; ') || 'none'} |`,
    )
  }
  for (const t of targets) {
    const requests = t.runs.reduce((n, r) => n + r.requests, 0)
    const calls = new Map<string, number>()
    for (const r of t.runs) for (const [c, n] of Object.entries(r.redisCommands)) calls.set(c, (calls.get(c) ?? 0) + n)
    const each = [...calls].map(([c, n]) => `${c} ${(n / requests).toFixed(3)}`).join(', ')
    console.log(
      `${t === targets[0] ? '\n' : ''}Redis per request, by command, all runs: ${t.app.kind.name}: ${each || 'none'}`,
    )
  }
  const [keyward, eoc, kcc, none] = targets
  const peer = m(eoc, 'rps') >= m(kcc, 'rps') ? eoc : kcc
  const keywardToPeer = m(keyward, 'rps') / m(peer, 'rps')
  const keywardToNoAuth = m(keyward, 'rps') / m(none, 'rps')
  console.log(
    `\nWithout the cookie: ${targets.map((t) => `${t.app.kind.name} ${t.login?.anonymousStatus ?? '-'}`).join(', ')}`,
  )
  console.log(
    `- keyward ÷ the faster peer (${peer.app.kind.name}), req/s: **${keywardToPeer.toFixed(2)}** (goal ≥ 3: ${keywardToPeer >= 3 ? 'met' : 'NOT met'})`,
  )
  console.log(
    `- no auth ÷ ${peer.app.kind.name}, req/s: **${(m(none, 'rps') / m(peer, 'rps')).toFixed(2)}**: the most any middleware's ratio to that peer could be here`,
  )
  console.log(
    `- keyward ÷ no auth, req/s: **${keywardToNoAuth.toFixed(2)}** (goal ≥ 0.67: ${keywardToNoAuth >= 2 / 3 ? 'met' : 'NOT met'})`,
  )
}

// ---------------------------------------------------------------------------------------------------
// B. At expiry

interface KeycloakEvent {
  type: string
  time: number
  sessionId?: string
  error?: string
  details?: Record<string, string>
}

interface Expiry {
  statuses: (number | string)[]
  slowestMs: number
  refreshes: number
  refreshErrors: KeycloakEvent[]
  /** Each process's answer to the session 2 s after the burst. */
  after: (number | string)[]
}

/** Keycloak's refresh events for one of its sessions (`sid`) through `clientId`, since `since`. */
async function refreshEvents(admin: KeycloakAdmin, clientId: string, sid: string, since: number) {
  const day = new Date(since).toISOString().slice(0, 10)
  const events = await admin.call<KeycloakEvent[]>(
    'GET',
    `/events?client=${clientId}&type=REFRESH_TOKEN&type=REFRESH_TOKEN_ERROR&dateFrom=${day}&max=2000`,
  )
  return events.filter((e) => e.sessionId === sid && e.time >= since)
}

/** One login on the first process, its access token left to expire, then the burst on both. */
async function expiryRound(stack: Stack, pair: [App, App], clientId: string): Promise<Expiry> {
  const login = await logIn(stack, pair[0], pair)
  // All three decide by the token's expiry (keyward and EOC by expires_in from the login, which is
  // later): 1.5 s past it, each holds an expired token and must refresh.
  await sleep(Math.max(0, login.accessExpiresAt + 1500 - Date.now()))
  const since = Date.now()
  const statuses = await Promise.all(
    Array.from({ length: BURST }, (_, i) => statusOf(`${pair[i % 2].url}/fresh`, login.cookie)),
  )
  const slowestMs = Date.now() - since
  await sleep(2000)
  const after = [
    await statusOf(`${pair[0].url}/fresh`, login.cookie),
    await statusOf(`${pair[1].url}/fresh`, login.cookie),
  ]
  const events = await refreshEvents(stack.admin, clientId, login.sid, since - 1000)
  return {
    statuses,
    slowestMs,
    refreshes: events.filter((e) => e.type === 'REFRESH_TOKEN').length,
    refreshErrors: events.filter((e) => e.type === 'REFRESH_TOKEN_ERROR'),
    after,
  }
}

interface ExpiryResult {
  kind: Kind
  rounds: Expiry[]
  /** What its processes logged, each distinct line (a stack's first) with its count. */
  logged: string
}

/** `EXPIRY_ROUNDS` rounds for one app, two processes of it sharing one Redis prefix and its secrets. */
async function atExpiry(stack: Stack, kind: Kind, clientId: string, secretOf: string): Promise<ExpiryResult> {
  const env = appEnv(stack, clientId, secretOf)
  const pair: [App, App] = [await startApp(stack, kind, env), await startApp(stack, kind, env)]
  const rounds: Expiry[] = []
  for (let i = 0; i < EXPIRY_ROUNDS; i++) rounds.push(await expiryRound(stack, pair, clientId))
  for (const app of pair) await app.proc.kill('SIGTERM')
  const lines = pair.flatMap((app) => loggedLines(app.proc.output()))
  return { kind, rounds, logged: tally(lines.map((line) => `\`${line.slice(0, 200)}\``)) || 'nothing' }
}

/**
 * What an app wrote, one line per thing said: a pino line's message, an error's first line and the
 * OAuth `error_description` it carried (Node prints the rest of the error over many lines).
 */
function loggedLines(output: string): string[] {
  const pinoMessage = (line: string) => {
    try {
      return String((JSON.parse(line) as { msg?: unknown }).msg)
    } catch {
      return line
    }
  }
  return output.split('\n').flatMap((line) => {
    if (line.startsWith('{"')) return [pinoMessage(line)]
    const said = /^ {2}error_description: (.*?),?$/.exec(line)
    if (said) return [`error_description: ${said[1]}`]
    return /^[A-Za-z]/.test(line) && line !== 'listening' ? [line] : []
  })
}

/** How many times each of `xs` occurs, in order: `200 × 49, 302 × 1`. */
const tally = (xs: (number | string)[]): string => {
  const counts = new Map<string, number>()
  for (const x of xs) counts.set(String(x), (counts.get(String(x)) ?? 0) + 1)
  return [...counts]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([x, n]) => `${x} × ${n}`)
    .join(', ')
}

const failed = (e: Expiry) => e.statuses.filter((s) => s !== 200).length + e.after.filter((s) => s !== 200).length

function printExpiry(results: ExpiryResult[]): void {
  console.log(
    `\nB. At expiry: 2 processes per app on one Redis, 10 s access tokens, rotation on; ${BURST} requests at once (${BURST / 2} to each process) 1.5 s after the token expired, then one to each process 2 s later\n`,
  )
  console.log(
    '| app | round | answers | slowest ms | REFRESH_TOKEN | REFRESH_TOKEN_ERROR | 2 s later (process 1, 2) | session lost |\n|---|---|---|---|---|---|---|---|',
  )
  for (const { kind, rounds } of results) {
    rounds.forEach((e, i) => {
      const reasons = e.refreshErrors.map((x) => `${x.error}: ${x.details?.reason ?? '?'}`)
      const errors = reasons.length ? `${reasons.length} (${tally(reasons)})` : '0'
      const lost = e.after.some((s) => s !== 200) ? 'yes' : 'no'
      console.log(
        `| ${kind.name} | ${i + 1} | ${tally(e.statuses)} | ${e.slowestMs} | ${e.refreshes} | ${errors} | ${e.after.join(', ')} | ${lost} |`,
      )
    })
  }
  console.log('')
  for (const { kind, rounds, logged } of results) {
    const ok = rounds.reduce((n, e) => n + e.statuses.filter((s) => s === 200).length, 0)
    const lost = rounds.filter((e) => e.after.some((s) => s !== 200)).length
    console.log(
      `- ${kind.name}: ${ok} of ${rounds.length * BURST} answered 200; sessions lost: ${lost} of ${rounds.length}; Keycloak refreshes per round: ${rounds.map((e) => e.refreshes).join(', ')}; its processes logged: ${logged}`,
    )
  }
}

// ---------------------------------------------------------------------------------------------------

/** Whether scripts/keycloak.sh's Keycloak runs (or an external one is named): else this run starts it. */
const keycloakRunning = (): boolean =>
  spawnSync('bash', [join(root, 'scripts/keycloak.sh'), 'status'], { stdio: 'ignore' }).status === 0

main(async (atExit) => {
  // A Keycloak this run starts is stopped at its end, last of all (what runs at exit runs in reverse).
  if (!keycloakRunning()) {
    atExit(async () => execFileSync('bash', [join(root, 'scripts/keycloak.sh'), 'stop'], { stdio: 'inherit' }))
  }
  // The private Redis's folder goes once the server has stopped: registered before it, so run after.
  let redisDir: string | undefined
  atExit(async () => redisDir && rmSync(redisDir, { recursive: true, force: true }))
  const { redis, upstream } = await baseStack(atExit)
  redisDir = redis.server.dir
  const admin = new KeycloakAdmin()
  const stack: Stack = {
    redis: redis.client,
    redisUrl: redis.url,
    upstreamUrl: upstream.url,
    atExit,
    admin,
    sids: new Set(),
  }
  // Registered before the apps are started, so run after they have stopped (they might still refresh).
  atExit(async () =>
    Promise.all([...stack.sids].map((sid) => admin.call('DELETE', `/sessions/${sid}`).catch(() => undefined))),
  )
  const kccWeb = await withoutPkce(stack, 'keyward-web')
  const kccShort = await withoutPkce(stack, 'keyward-short')

  const started = machine()
  const load = loadavg()[0].toFixed(2)
  const targets = PARTS.has('fresh') ? await freshPath(stack, { web: 'keyward-web', kccWeb }) : undefined
  const expiry = PARTS.has('expiry')
    ? [
        await atExpiry(stack, KEYWARD, 'keyward-short', 'keyward-short'),
        await atExpiry(stack, EOC, 'keyward-short', 'keyward-short'),
        await atExpiry(stack, KCC, kccShort, 'keyward-short'),
      ]
    : undefined

  console.log(
    `\n${started}; every app its own Node process (Express ${version('express')}); load average (1 min) ${load} at the start, ${loadavg()[0].toFixed(2)} at the end`,
  )
  const problems: string[] = []
  if (targets) {
    printFreshPath(targets)
    const keywards = targets.filter((t) => t.app.kind === KEYWARD)
    problems.push(...keywards.flatMap((t) => t.failures.map((f) => `keyward on the fresh path (${t.path}): ${f}`)))
  }
  if (expiry) {
    printExpiry(expiry)
    const keywardFailed = expiry[0].rounds.reduce((n, e) => n + failed(e), 0)
    console.log(
      `- keyward at expiry: ${keywardFailed} failed requests (goal: none: ${keywardFailed === 0 ? 'met' : 'NOT met'})`,
    )
    if (keywardFailed) problems.push(`keyward failed ${keywardFailed} requests at expiry`)
  }
  if (problems.length) throw new Error(problems.join('; '))
})
