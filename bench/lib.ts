import { execFileSync, spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { cpus, tmpdir } from 'node:os'
import { join } from 'node:path'
import { sign } from 'cookie-signature'
import { Redis } from 'ioredis'
import { Browser } from '../harness/browser'
import { waitUntil } from '../harness/keyward'
import { startKeywardProcess, type KeywardProcess } from '../harness/keyward-process'
import { processTree, spawnTracked, type TrackedProcess } from '../harness/processes'
import { randomOpaque, sessionIdOf } from '../src/domain/opaque'
import type { TokenSession } from '../src/domain/token-session'
import type { TokenSessionStore } from '../src/store/token-sessions'

export { processTree }
import { freePort, RedisServer } from '../harness/redis-server'

const root = join(__dirname, '..')

/** Keycloak from scripts/keycloak.sh (reused if running); its URL is what the harness reads. */
export function keycloak(): string {
  const out = execFileSync('bash', [join(root, 'scripts/keycloak.sh'), 'start'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  const url = out.toString().trim().split('\n').pop()!
  process.env.KEYWARD_TEST_KEYCLOAK_URL = url
  return url
}

/** wrk from Debian's packages, installed when missing (as root). */
export function ensureWrk(): void {
  if (spawnSync('wrk', ['--version']).error === undefined) return
  console.error('installing wrk (Debian package)')
  execFileSync('apt-get', ['install', '-y', '-qq', 'wrk'], {
    stdio: 'inherit',
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  })
}

/** A private Redis only keyward talks to, so INFO commandstats counts keyward's commands alone. */
export async function privateRedis(): Promise<{ server: RedisServer; client: Redis; url: string }> {
  const server = await RedisServer.create()
  await server.start()
  process.env.KEYWARD_TEST_REDIS_URL = server.url
  return { server, client: new Redis(server.url), url: server.url }
}

export type AtExit = (stop: () => Promise<unknown>) => void

/**
 * What every benchmark runs against: wrk, Keycloak, a private Redis and the echo upstream, each
 * stopped at exit.
 */
export async function baseStack(atExit: AtExit) {
  ensureWrk()
  keycloak()
  const redis = await privateRedis()
  atExit(async () => (redis.client.disconnect(), redis.server.stop()))
  const upstream = await nodeServer('echo-upstream.mjs')
  atExit(() => upstream.proc.kill('SIGTERM'))
  return { redis, upstream }
}

/** A small node script of bench/ as its own process on a free port, once it says it listens. */
export async function nodeServer(
  script: string,
  env: Record<string, string> = {},
): Promise<{ url: string; proc: TrackedProcess }> {
  const port = await freePort()
  const proc = spawnTracked(process.execPath, [join(__dirname, script)], {
    cwd: root,
    env: { ...env, PORT: String(port) },
    label: script,
  })
  await waitUntil(async () => proc.output().includes('listening'), 10_000, 50)
  return { url: `http://127.0.0.1:${port}`, proc }
}

/** keyward from dist/ (`npm run build` first) with `workers` worker processes. */
export async function keyward(
  env: Record<string, string>,
  workers: number,
  nodeArgs: string[] = [],
): Promise<{ url: string; proc: KeywardProcess }> {
  const url = `http://127.0.0.1:${await freePort()}`
  const proc = await startKeywardProcess(url, { ...env, WORKERS: String(workers) }, { built: true, nodeArgs })
  if (workers > 1) await waitUntil(async () => processTree(proc.child.pid!).length === workers + 1, 10_000, 50)
  return { url, proc }
}

/** A real login through Keycloak's form; the Cookie header value that carries the session. */
export async function login(url: string, username = 'alice'): Promise<string> {
  const browser = new Browser()
  await browser.login(url, username, `${username}-password`)
  return browser.jar.getCookieString(url)
}

/**
 * `count` copies of a real session, fresh for an hour (so no refresh runs), each under a cookie of its
 * own signed with `secret` the way express-session signs it, created in every store; their Cookie
 * header values. `first` numbers their users and Keycloak sessions, which must differ between calls.
 */
export async function copySessions(
  real: TokenSession,
  count: number,
  stores: TokenSessionStore[],
  secret: string,
  first = 0,
): Promise<string[]> {
  const cookies: string[] = []
  for (let done = 0; done < count;) {
    const batch = Array.from({ length: Math.min(500, count - done) }, () => {
      const i = first + done++
      const cookieSessionId = randomOpaque()
      cookies.push(`keyward=${encodeURIComponent(`s:${sign(cookieSessionId, secret)}`)}`)
      const session: TokenSession = {
        ...real,
        id: sessionIdOf(cookieSessionId),
        cookieSessionId,
        sub: `bench-user-${i}`,
        sid: `bench-sid-${i}`,
        accessExpiresAt: Date.now() + 3600_000,
        expiresAt: Date.now() + 7200_000,
      }
      return Promise.all(stores.map((store) => store.create(session)))
    })
    await Promise.all(batch)
  }
  return cookies
}

export interface WrkResult {
  requests: number
  seconds: number
  rps: number
  /** Latency percentiles and mean, in microseconds. */
  p50: number
  p90: number
  p99: number
  mean: number
  errors: number
  non2xx: number
}

/** One wrk run against `url`; with `cookiesFile`, each request carries the next line's cookies. */
export function wrk(
  url: string,
  options: {
    threads: number
    connections: number
    seconds: number
    headers?: Record<string, string>
    cookiesFile?: string
    /** How long wrk waits for an answer before it counts a timeout (wrk's default: 2 s). */
    timeoutSeconds?: number
  },
): WrkResult {
  const args = ['-t', String(options.threads), '-c', String(options.connections), '-d', `${options.seconds}s`]
  if (options.timeoutSeconds) args.push('--timeout', `${options.timeoutSeconds}s`)
  for (const [k, v] of Object.entries(options.headers ?? {})) args.push('-H', `${k}: ${v}`)
  args.push('-s', join(__dirname, 'wrk-report.lua'), url)
  const env = options.cookiesFile ? { ...process.env, WRK_COOKIES: options.cookiesFile } : process.env
  const out = execFileSync('wrk', args, { env, maxBuffer: 1 << 20 }).toString()
  const line = out.split('\n').find((l) => l.startsWith('WRK '))
  if (!line) throw new Error(`wrk printed no summary:\n${out}`)
  const r = JSON.parse(line.slice(4)) as Omit<WrkResult, 'rps'>
  return { ...r, rps: r.requests / r.seconds }
}

const TICK_MS = 1000 / Number(execFileSync('getconf', ['CLK_TCK']).toString().trim())

/** CPU time (user + system) the processes have used so far, in milliseconds. */
export function cpuMs(pids: number[]): number {
  let ticks = 0
  for (const pid of pids) {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    ticks += Number(fields[11]) + Number(fields[12]) // utime, stime
  }
  return ticks * TICK_MS
}

/** Resident memory of the processes, in MiB. */
export function rssMiB(pids: number[]): number {
  let kib = 0
  for (const pid of pids) kib += Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1])
  return kib / 1024
}

/** The machine's busy and total CPU time so far (all cores, in USER_HZ ticks), from /proc/stat. */
export function machineTicks(): { busy: number; total: number } {
  const [, ...values] = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/)
  // user nice system idle iowait irq softirq steal (guest time is already in user)
  const n = values.slice(0, 8).map(Number)
  const total = n.reduce((a, b) => a + b, 0)
  return { busy: total - n[3] - n[4], total } // idle and iowait are not busy
}

/** Calls per Redis command since the last CONFIG RESETSTAT. */
export async function commandStats(redis: Redis): Promise<Record<string, number>> {
  const info = await redis.info('commandstats')
  const out: Record<string, number> = {}
  for (const m of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) out[m[1]] = Number(m[2])
  return out
}

/** `items` in `rounds` rounds, each starting one further along, so no item always runs first or last. */
export function* rotations<T>(items: readonly T[], rounds: number): Generator<T> {
  for (let round = 0; round < rounds; round++) {
    for (let i = 0; i < items.length; i++) yield items[(round + i) % items.length]
  }
}

export const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2
}

export const machine = () =>
  `${process.version}, ${cpus().length} cores (${cpus()[0].model.trim()}), ${new Date().toISOString().slice(0, 16)} UTC`

/**
 * Runs a benchmark, then exits: 0, or 1 with the error. What it registers with `atExit` (the servers
 * it started) is stopped first, also when the run is interrupted (SIGINT, SIGTERM); then the run's
 * folder, where `tempDir` puts every file of this run, is removed.
 */
export function main(run: (atExit: AtExit) => Promise<void>): void {
  const runDir = mkdtempSync(join(tmpdir(), 'keyward-bench-'))
  process.env.KEYWARD_TEST_RUN_DIR = runDir
  const stops: (() => Promise<unknown>)[] = [async () => rmSync(runDir, { recursive: true, force: true })]
  // One cleanup however the run ends: an interrupt and the run's own failure (its servers stopped
  // under it) must not race, or the second exits while the first is still stopping things.
  let cleaning: Promise<void> | undefined
  const cleanup = () =>
    (cleaning ??= (async () => {
      for (const stop of stops.splice(0).reverse()) await stop().catch(() => undefined)
    })())
  const exit = (code: number) => void cleanup().finally(() => process.exit(code))
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => exit(130))
  const atExit: AtExit = (stop) => {
    if (cleaning)
      void stop().catch(() => undefined) // started while cleaning up: stopped at once
    else stops.push(stop)
  }
  run(atExit).then(
    () => exit(0),
    (err: unknown) => {
      if (cleaning) return exit(130) // interrupted: the run failed because its servers were stopped
      console.error(err)
      exit(1)
    },
  )
}
