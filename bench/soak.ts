/**
 * A soak: two keyward processes (WORKERS=2 each) on Redis behind Sentinel (a primary, a replica, three
 * Sentinels), a Keycloak of its own with short access tokens and refresh tokens rotated, and
 * thousands of sessions (web, mobile, offline, handed over) kept busy for SOAK_MINUTES, with logins,
 * logouts, revocations, handoffs and back-channel logouts mixed in, while faults strike on a schedule:
 * a Sentinel fail-over, a SIGKILLed Redis primary (back as a replica), a Keycloak restart, a SIGKILLed
 * keyward process (restarted) and a slow upstream. Run by hand, after `npm run build`:
 * `npm run bench:soak` (or `node --import tsx bench/soak.ts`). Writes bench/soak.json and
 * bench/soak.svg, prints a summary, and exits 1 if something that must hold did not:
 * Each session calls the API from its login on, so the setup's answers (at negative minutes) are judged
 * too, and tokens expire spread over time rather than all at the run's start.
 *   - outside fault windows (a fault's start until SOAK_SETTLE_SECONDS after its end) every answer is a
 *     success; inside, only successes, documented 503s, refused connections and failed logins. A fault
 *     ends when the system is whole again: for Keycloak's restart, when Keycloak answers grants as
 *     quickly as before it (restarted, it is cold and has every expired token's refresh to work off);
 *   - no session lost: every session not ended on purpose answers an API call at the end, keyward holds
 *     exactly those, and Keycloak's sessions of the realm are exactly theirs;
 *   - one refresh per access-token expiry: outside fault windows no refresh token presented twice
 *     (the `refresh_token_id` of Keycloak's REFRESH_TOKEN events) and no two refreshes of a session
 *     within half a token's life, no refresh token refused (REFRESH_TOKEN_ERROR) but after the end on purpose of its session had begun (a race), and every
 *     call succeeded outside fault windows (so no expiry went without its refresh). Keycloak's refreshes
 *     against the expiries each session's successful calls crossed is reported, not judged: a
 *     background refresh that fails while Keycloak stops or starts shifts it by one.
 * Reported, not judged: memory, heap, CPU and descriptors of each keyward process each minute (slope per
 * hour after warm-up), the machine's CPU (a soak must not be measuring a saturated machine), Redis
 * memory per session, latency p50/p99 per ten minutes (per minute below 20), keyward's refreshes by
 * outcome, and the answers that broke a rule by minute.
 *   SOAK_MINUTES (30), SOAK_SESSIONS (2000), SOAK_USERS (400), SOAK_THINK_SECONDS (20: mean time between a
 *   session's API calls), SOAK_CHURN_PER_MINUTE (30: logins, handoffs, logouts, revocations and
 *   back-channel logouts together), SOAK_LOGIN_CONCURRENCY (8), SOAK_SETTLE_SECONDS (30),
 *   SOAK_SLOW_MS (2000) and SOAK_SLOW_SECONDS (30) for the slow upstream, SOAK_KEYCLOAK_PORT (8280) and
 *   SOAK_KEYCLOAK_MANAGEMENT_PORT (9280), SOAK_MAX_REUSE (1: the realm's Refresh Token Max Reuse),
 *   SOAK_KEYCLOAK_HEAP (-Xms1g -Xmx4g: JAVA_OPTS_KC_HEAP of the soak's Keycloak), SOAK_ACCESS_TOKEN_SECONDS
 *   (30: the realm's access-token lifespan; sessions ÷ lifespan is about Keycloak's refreshes a second).
 */
import { readdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Redis } from 'ioredis'
import { killLeftovers } from '../harness/processes'
import { scanKeys } from '../harness/redis-topology'
import { cpuMs, machine, machineTicks, main, rssMiB } from './lib'
import { Load, type Session } from './soak-load'
import {
  latencyBuckets,
  plot,
  refreshesPerExpiry,
  slopePerHour,
  statusesByWindow,
  type RefreshEvent,
  type Sample,
  type Window,
} from './soak-report'
import { ACCESS_TOKEN_SECONDS, CLIENTS, FAULTS, startStack, type KeywardNode, type Stack } from './soak-stack'

const setting = (name: string, fallback: number) => Number(process.env[name] ?? fallback)
const MINUTES = setting('SOAK_MINUTES', 30)
const SESSIONS = setting('SOAK_SESSIONS', 2000)
// Five sessions a user: keyward ends a user's oldest session past MAX_SESSIONS_PER_USER (50).
const USERS = setting('SOAK_USERS', 400)
const THINK_MS = setting('SOAK_THINK_SECONDS', 20) * 1000
const CHURN = setting('SOAK_CHURN_PER_MINUTE', 30)
const LOGIN_CONCURRENCY = setting('SOAK_LOGIN_CONCURRENCY', 8)
const SETTLE_MS = setting('SOAK_SETTLE_SECONDS', 30) * 1000
const LIFETIME_MS = ACCESS_TOKEN_SECONDS * 1000
/** Samples before this are the warm-up, left out of the slopes. */
const WARMUP_MINUTES = Math.min(5, MINUTES / 4)
/** Shares of the churn: logins, handoffs and ends of each kind. */
const CHURN_MIX = { login: 0.4, handoff: 0.15, logout: 0.2, revoke: 0.1, 'back-channel logout': 0.15 }

const sleepUntil = (at: number) => new Promise((r) => setTimeout(r, Math.max(0, at - Date.now())))

/** CPU time of each process tree at its last sample, to turn into a share of a core per minute. */
const lastCpu = new Map<string, { pids: string; ms: number; at: number }>()

/** The share of one core `pids` used since the last call for `name` (none after a restart). */
function cpuPercent(name: string, pids: number[]): number | undefined {
  const now = { pids: pids.join(), ms: cpuMs(pids), at: performance.now() }
  const last = lastCpu.get(name)
  lastCpu.set(name, now)
  return last?.pids === now.pids ? (100 * (now.ms - last.ms)) / (now.at - last.at) : undefined
}

/** Memory, heap (its workers' sum, from its /metrics), CPU and open descriptors of one keyward process tree. */
async function sampleProcess(node: KeywardNode, minute: number): Promise<Sample | undefined> {
  try {
    const pids = node.pids()
    const metrics = await (await fetch(`http://127.0.0.1:${node.metricsPort}/metrics`)).text()
    const heap = Number(/^nodejs_heap_size_used_bytes (\S+)/m.exec(metrics)![1])
    const fds = pids.reduce((n, pid) => n + readdirSync(`/proc/${pid}/fd`).length, 0)
    const cpu = cpuPercent(node.name, pids)
    return { minute, process: node.name, rssMiB: rssMiB(pids), heapMiB: heap / 2 ** 20, fds, cpuPercent: cpu }
  } catch {
    return undefined // down (a fault) or restarting: no sample this minute
  }
}

/** The machine's busy share of all its cores since the last call. */
let lastTicks = machineTicks()
function machineBusyPercent(): number {
  const now = machineTicks()
  const busy = (100 * (now.busy - lastTicks.busy)) / (now.total - lastTicks.total)
  lastTicks = now
  return busy
}

/**
 * What a node counted since it (last) started, from its /metrics: failed calls to Keycloak by operation
 * and kind, refreshes by outcome (`no_slot`: no turn at Keycloak in time), lock waits by outcome, and
 * sessions ended by app, kind and reason (a session cap's end would be a session lost to the load).
 */
async function refreshCounters(node: KeywardNode): Promise<Record<string, number>> {
  const metrics = await (await fetch(`http://127.0.0.1:${node.metricsPort}/metrics`)).text()
  const out: Record<string, number> = {}
  const series = {
    'keycloak error': /^keyward_keycloak_errors_total\{([^}]*)\} (\S+)/gm,
    refresh: /^keyward_refresh_duration_seconds_count\{([^}]*)\} (\S+)/gm,
    'lock wait': /^keyward_refresh_lock_wait_seconds_count\{([^}]*)\} (\S+)/gm,
    ended: /^keyward_sessions_ended_total\{([^}]*)\} (\S+)/gm,
  }
  for (const [what, pattern] of Object.entries(series)) {
    for (const m of metrics.matchAll(pattern)) {
      const labels = [...m[1].matchAll(/\w+="([^"]*)"/g)].map((l) => l[1])
      out[`${what} ${labels.join(' ')}`] = Number(m[2])
    }
  }
  return out
}

const PAGE = 500

/**
 * Every page of an admin listing, each asked up to five times: after a long run Keycloak lists tens of
 * thousands of events, and a 30-minute run once ended on a page whose connection it closed.
 */
async function allPages<T>(stack: Stack, path: string): Promise<T[]> {
  const out: T[] = []
  for (let first = 0; ; first += PAGE) {
    const url = `${path}${path.includes('?') ? '&' : '?'}first=${first}&max=${PAGE}`
    let page: T[] | undefined
    for (let attempt = 1; !page; attempt++) {
      page = await stack.admin.call<T[]>('GET', url).catch(async (err: unknown) => {
        if (attempt === 5) throw err
        await new Promise((r) => setTimeout(r, 2000 * attempt))
        return undefined
      })
    }
    out.push(...page)
    if (page.length < PAGE) return out
  }
}

/** Calls each live session's API once, a few at a time; the sessions that failed. */
async function lostSessions(load: Load): Promise<Session[]> {
  const live = load.live()
  const lost: Session[] = []
  let next = 0
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (next < live.length) {
        const s = live[next++]
        if (!(await load.call(s, 'final check'))) lost.push(s)
      }
    }),
  )
  return lost
}

const difference = (a: Set<string>, b: Set<string>) => [...a].filter((x) => !b.has(x)).length

/**
 * keyward's records against the live sessions the load holds, and Keycloak's sessions against
 * keyward's, per client and kind. The online twin of an offline login's Keycloak session is left out:
 * keyward keeps only the offline one, and Keycloak lets the other idle away.
 */
async function sessionAccounts(stack: Stack, redis: Redis, load: Load) {
  const records = await Promise.all(
    (await scanKeys(redis, `${stack.shared.REDIS_PREFIX}tok:*`)).map(
      async (key) => JSON.parse((await redis.hget(key, 'm'))!) as { sid: string; app: string; kind: string },
    ),
  )
  const kw = (app: string, kind: string) =>
    new Set(records.filter((r) => r.app === app && r.kind === kind).map((r) => r.sid))
  const kc = async (clientId: string, listing: 'user-sessions' | 'offline-sessions') => {
    const { id } = await stack.admin.client(clientId)
    const ids = (await allPages<{ id: string }>(stack, `/clients/${id}/${listing}`)).map((s) => s.id)
    return new Set(listing === 'user-sessions' ? ids.filter((sid) => !load.offlineSids.has(sid)) : ids)
  }
  const pairs = {
    'web and mobile, online': [kw('web', 'online'), await kc(CLIENTS.web, 'user-sessions')],
    offline: [kw('web', 'offline'), await kc(CLIENTS.web, 'offline-sessions')],
    'handed over': [kw('sibling', 'online'), await kc(CLIENTS.sibling, 'user-sessions')],
  }
  return {
    records: records.length,
    live: load.live().length,
    keycloak: Object.fromEntries(
      Object.entries(pairs).map(([name, [ours, theirs]]) => [
        name,
        {
          keyward: ours.size,
          keycloak: theirs.size,
          onlyKeyward: difference(ours, theirs),
          onlyKeycloak: difference(theirs, ours),
        },
      ]),
    ),
  }
}

/**
 * Keycloak's events of a type, each once. Keycloak lists the newest first, so events added while the
 * pages are read (a final check's refreshes) push the rest down, and one at a page's edge comes twice:
 * identical, to its `updated_refresh_token_id`; two refreshes never are (each makes a new token).
 */
async function refreshEvents(stack: Stack, type: string): Promise<RefreshEvent[]> {
  const listed = await allPages<RefreshEvent>(stack, `/events?type=${type}`)
  const once = [...new Map(listed.map((e) => [JSON.stringify(e), e])).values()]
  if (once.length < listed.length) console.log(`${type}: ${listed.length - once.length} events listed twice while read`)
  return once
}

main(async (atExit) => {
  // main() gives the run its folder, where every temporary folder goes (Redis data, keyward's app
  // file) and which it removes at the end; what the harness registered there is killed before that,
  // however the run ends.
  atExit(() => killLeftovers())

  const users = Array.from({ length: USERS }, (_, i) => `soak-${i}`)
  const stack = await startStack(atExit, users)
  const redis = stack.topology.client()
  redis.on('error', () => undefined) // a fault's doing; the keyward processes report their own
  atExit(async () => redis.disconnect())
  const load = new Load(stack, redis, users, THINK_MS)

  const setupStart = Date.now()
  load.startCalls() // each session from its login on; the setup's answers are judged too
  await load.populate(SESSIONS, LOGIN_CONCURRENCY)
  const setupSeconds = (Date.now() - setupStart) / 1000
  console.log(`${load.sessions.length} sessions logged in in ${setupSeconds.toFixed(0)} s`)

  const start = Date.now()
  const minute = () => (Date.now() - start) / 60_000
  const windows: Window[] = []
  let faultOn = false
  load.startChurn(
    Object.fromEntries(Object.entries(CHURN_MIX).map(([what, share]) => [what, CHURN * share])),
    () => faultOn,
  )
  const samples: Sample[] = []
  const redisSamples: { minute: number; bytesPerSession: number }[] = []
  const machineSamples: { minute: number; busyPercent: number }[] = []
  const sample = async () => {
    const at = minute()
    machineSamples.push({ minute: at, busyPercent: machineBusyPercent() })
    for (const node of stack.nodes) {
      const s = await sampleProcess(node, at)
      if (s) samples.push(s)
    }
    const used = /^used_memory:(\d+)/m.exec(await redis.info('memory').catch(() => ''))?.[1]
    if (used) redisSamples.push({ minute: at, bytesPerSession: Number(used) / load.live().length })
  }
  await sample()
  const sampler = setInterval(() => void sample(), 60_000)

  for (const [i, fault] of FAULTS.entries()) {
    await sleepUntil(start + ((i + 1) * MINUTES * 60_000) / (FAULTS.length + 1))
    const window: Window = { name: fault.name, start: Date.now(), end: Date.now(), keycloakDown: fault.keycloakDown }
    windows.push(window)
    faultOn = true
    await fault.inject(stack)
    window.end = Date.now()
    console.log(
      `fault at minute ${((window.start - start) / 60_000).toFixed(1)}: ${fault.name}, ${((window.end - window.start) / 1000).toFixed(1)} s`,
    )
    await sleepUntil(window.end + SETTLE_MS)
    faultOn = false
  }
  await sleepUntil(start + MINUTES * 60_000)
  await load.stop()
  clearInterval(sampler)
  await sample()
  const runMinutes = minute()
  // What keyward saw of Keycloak (timeouts and cuts are keycloak_unavailable), before the final checks.
  const keywardCounters = Object.fromEntries(
    await Promise.all(stack.nodes.map(async (n) => [n.name, await refreshCounters(n).catch(() => ({}))] as const)),
  )

  const lost = await lostSessions(load)
  console.log(`${lost.length} of ${load.live().length} live sessions lost`) // before the slow reads that follow
  const accounts = await sessionAccounts(stack, redis, load)
  const refresh = refreshesPerExpiry(
    load.sessions,
    await refreshEvents(stack, 'REFRESH_TOKEN'),
    await refreshEvents(stack, 'REFRESH_TOKEN_ERROR'),
    LIFETIME_MS,
    windows,
  )
  const statuses = statusesByWindow(load.answers, windows, SETTLE_MS, start)
  const latency = latencyBuckets(load.answers, start, (runMinutes >= 20 ? 10 : 1) * 60_000)
  const restartedAt = (name: string) =>
    Math.max(0, ...windows.filter((w) => w.name.startsWith(name)).map((w) => (w.end - start) / 60_000))
  const slopes = Object.fromEntries(
    stack.nodes.map((node) => {
      // After the warm-up, and after the process's last restart (its series starts again there).
      const from = Math.max(WARMUP_MINUTES, restartedAt(node.name) + WARMUP_MINUTES)
      const series = samples.filter((s) => s.process === node.name && s.minute >= from)
      const slope = (f: 'rssMiB' | 'heapMiB' | 'fds') =>
        slopePerHour(series.map((s) => ({ t: s.minute * 60_000, v: s[f] })))
      return [
        node.name,
        {
          fromMinute: from,
          rssMiBPerHour: slope('rssMiB'),
          heapMiBPerHour: slope('heapMiB'),
          fdsPerHour: slope('fds'),
        },
      ]
    }),
  )
  const redisSlope = slopePerHour(
    redisSamples.filter((s) => s.minute >= WARMUP_MINUTES).map((s) => ({ t: s.minute * 60_000, v: s.bytesPerSession })),
  )

  /** How many of `times` fell in each fault's window (or in none), to show what caused them. */
  const whenAndWhere = (times: number[]) => {
    const tally: Record<string, number> = {}
    for (const t of times) {
      const w = windows.find((x) => t >= x.start && t <= x.end + SETTLE_MS)?.name ?? 'outside fault windows'
      tally[w] = (tally[w] ?? 0) + 1
    }
    return tally
  }
  // When each lost session was first told it was over, and in which fault's window.
  // and what Keycloak said when it refused the session's refresh tokens.
  const lostReport = lost.map(({ kind, sid, firstFailure: first }) => ({
    kind,
    minute: first && (first.at - start) / 60_000,
    status: first?.status,
    fault: windows.find((w) => first && first.at >= w.start && first.at <= w.end + SETTLE_MS)?.name,
    keycloakRefused: refresh.errors
      .filter((e) => e.sid === sid)
      .map((e) => `minute ${((e.time - start) / 60_000).toFixed(2)}: ${e.error}`),
  }))
  const refused = refresh.errors.filter((e) => !e.raced)
  const failures = [
    ...Object.entries(statuses.broken).map(([what, n]) => `${n} × ${what}`),
    ...(lost.length ? [`${lost.length} sessions lost: ${JSON.stringify(lostReport)}`] : []),
    ...(accounts.records !== accounts.live
      ? [`keyward holds ${accounts.records} sessions, the load ${accounts.live}`]
      : []),
    ...Object.entries(accounts.keycloak)
      .filter(([, c]) => c.onlyKeyward || c.onlyKeycloak)
      .map(([name, c]) => `${name}: ${c.onlyKeyward} sessions only in keyward, ${c.onlyKeycloak} only at Keycloak`),
    // Inside a fault window a refresh whose rotated token was lost is made again with the old token
    // (Max Reuse 1): reported below, not a failure. Outside one, nothing excuses it.
    ...(refresh.doubles.some(({ time: t }) => !windows.some((w) => t >= w.start && t <= w.end + SETTLE_MS))
      ? [
          `refreshes too many (a token presented twice, or within half a life): ${JSON.stringify(whenAndWhere(refresh.doubles.map((d) => d.time)))}`,
        ]
      : []),
    ...(refused.length
      ? [
          `refresh tokens refused: ${JSON.stringify(whenAndWhere(refused.map((e) => e.time)))}, for ${JSON.stringify(
            refused.reduce<Record<string, number>>((t, e) => ((t[e.error] = (t[e.error] ?? 0) + 1), t), {}),
          )}`,
        ]
      : []),
  ]

  const faults = windows.map((w) => ({
    name: w.name,
    from: (w.start - start) / 60_000,
    to: (w.end + SETTLE_MS - start) / 60_000,
  }))
  const brokenByMinute = statuses.brokenByMinute
  const results = {
    machine: machine(),
    settings: { MINUTES, SESSIONS, USERS, THINK_MS, CHURN, LOGIN_CONCURRENCY, SETTLE_MS, ACCESS_TOKEN_SECONDS },
    setupSeconds,
    runMinutes,
    sessions: {
      loggedIn: load.sessions.length,
      byKind: Object.fromEntries(
        ['web', 'mobile', 'offline', 'handoff'].map((k) => [k, load.sessions.filter((s) => s.kind === k).length]),
      ),
      endedOnPurpose: Object.fromEntries(
        [...new Set(load.sessions.map((s) => s.ending).filter(Boolean))].map((why) => [
          why,
          load.sessions.filter((s) => s.ending === why).length,
        ]),
      ),
      live: accounts.live,
      lost: lostReport,
    },
    accounts,
    faults,
    statuses,
    refresh,
    keywardCounters,
    slopes,
    redisBytesPerSessionPerHour: redisSlope,
    samples,
    machineSamples,
    redisSamples,
    latency,
    failures,
  }
  writeFileSync(join(__dirname, 'soak.json'), `${JSON.stringify(results, null, 2)}\n`)
  writeFileSync(join(__dirname, 'soak.svg'), await plot(samples, redisSamples, latency, faults, machineSamples))

  console.log(
    `\n${machine()}; ${runMinutes.toFixed(1)} minutes, ${load.sessions.length} sessions (${JSON.stringify(results.sessions.byKind)})`,
  )
  console.log(
    `ended on purpose: ${JSON.stringify(results.sessions.endedOnPurpose)}; live at the end ${accounts.live}, lost ${lost.length}`,
  )
  console.log(`keyward's records ${accounts.records}; against Keycloak: ${JSON.stringify(accounts.keycloak)}`)
  console.log(`answers inside fault windows: ${JSON.stringify(statuses.inside)}`)
  console.log(`answers outside: ${JSON.stringify(statuses.outside)}; raced an end on purpose: ${statuses.raced}`)
  console.log(
    `refreshes at Keycloak ${refresh.refreshed} for ${refresh.expected} expiries crossed (${refresh.ratio.toFixed(3)} per expiry; sessions exact ${refresh.sessionsExact}/${load.sessions.length}, differences ${JSON.stringify(refresh.differenceHistogram)}), ${refresh.doubles.length} too many (${JSON.stringify(whenAndWhere(refresh.doubles.map((d) => d.time)))}), ${refused.length} refused (${refresh.errors.length - refused.length} more raced an end on purpose); sooner than keyward's earliest by the events' times: ${JSON.stringify(refresh.early.map((e) => `minute ${((e.time - start) / 60_000).toFixed(1)}: ${(e.gapMs / 1000).toFixed(1)} s`))}`,
  )
  console.log(
    `keyward's refreshes and failed Keycloak calls (since each process started): ${JSON.stringify(keywardCounters)}`,
  )
  console.log(`answers that broke the rules, by minute: ${JSON.stringify(brokenByMinute)}`)
  console.log(
    `machine busy per minute, % of all cores: ${machineSamples.map((m) => m.busyPercent.toFixed(0)).join(' ')}`,
  )
  console.log(
    `slopes per hour after warm-up: ${JSON.stringify(slopes)}; Redis bytes per session per hour: ${redisSlope?.toFixed(1)}`,
  )
  for (const b of latency) console.log(`  minute ${b.minute}: ${b.calls} calls, p50 ${b.p50} ms, p99 ${b.p99} ms`)
  console.log('wrote bench/soak.json and bench/soak.svg')
  if (failures.length) throw new Error(`the soak failed:\n  - ${failures.join('\n  - ')}`)
  console.log('every must-hold held')
})
