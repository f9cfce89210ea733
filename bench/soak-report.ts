/** The soak's arithmetic and its plot: statuses by fault window, refreshes per expiry, trends, latency. */
import { DOCUMENTED_503, type Answer, type Session } from './soak-load'

export interface Window {
  name: string
  start: number
  end: number
  /** Keycloak could not be reached from start to end. */
  keycloakDown?: boolean
}

export type Tally = Record<string, number>

const add = (t: Tally, key: string) => (t[key] = (t[key] ?? 0) + 1)

/** What a client may see while a fault lasts: success, a documented 503, a refused connection, a failed login. */
const allowedInFault = (status: string) =>
  /^[23]\d\d$|^ok$|^no answer|^failed/.test(status) || DOCUMENTED_503.some((code) => status === `503 ${code}`)
const success = (status: string) => /^[23]\d\d$|^ok$/.test(status)

/**
 * Answers by status, inside a fault window (its start until `settleMs` after its end; an answer
 * counts as inside if any part of it was) and outside; and those that break the rules: outside,
 * anything but success; inside, anything but what `allowedInFault` lets through, also by the run's
 * minute (from `start`) they came in. Answers that raced their session's end on purpose are only counted.
 */
export function statusesByWindow(answers: Answer[], windows: Window[], settleMs: number, start: number) {
  const inside: Tally = {}
  const outside: Tally = {}
  const broken: Tally = {}
  const brokenByMinute: Tally = {}
  let raced = 0
  for (const a of answers) {
    if (a.raced) {
      raced++
      continue
    }
    const label = `${a.what}: ${a.status}`
    const during = windows.some((w) => a.at <= w.end + settleMs && a.at + a.ms >= w.start)
    add(during ? inside : outside, label)
    if (!(during ? allowedInFault : success)(a.status)) {
      add(broken, `${during ? 'inside' : 'outside'} ${label}`)
      add(brokenByMinute, String(Math.floor((a.at - start) / 60_000)))
    }
  }
  return { inside, outside, broken, brokenByMinute, raced }
}

/**
 * The refreshes the load made necessary for one session: a call at or after its token's expiry less
 * keyward's refresh window (REFRESH_SKEW_*: the smaller of 30 s and a quarter of the lifetime) needs
 * one, and the new token lives `lifetimeMs` from then. A call while Keycloak is down succeeds only
 * inside the window, on the token it has, and the refresh it starts in the background fails: the
 * expiry is still ahead, for the next call.
 */
export function expiriesCrossed(s: Session, lifetimeMs: number, outages: Window[]): number {
  const window = Math.min(30_000, lifetimeMs / 4)
  let expiry = s.firstExpiry
  let crossed = 0
  for (const at of [...s.okCalls].sort((a, b) => a - b)) {
    if (at < expiry - window || outages.some((o) => at >= o.start && at <= o.end)) continue
    crossed++
    expiry = at + lifetimeMs
  }
  return crossed
}

export interface RefreshEvent {
  time: number
  sessionId: string
  clientId: string
  error?: string
  /** Keycloak's: `refresh_token_id` is the id of the refresh token the refresh presented. */
  details?: { reason?: string; refresh_token_id?: string }
}

/**
 * Keycloak's refreshes against the expiries each session's load crossed. A refresh too many (`doubles`)
 * is one that presented a refresh token an earlier refresh of the session had presented (the same
 * `refresh_token_id`: a reuse, what rotation punishes), or that came within half a token's life of the
 * one before. Refreshes closer than lifetime − refresh window (when keyward refreshes at the earliest)
 * but not that close are listed apart (`early`, with their gaps): Keycloak stamps an event when the
 * refresh is done, while keyward counts from when the previous one was asked, so a slow previous refresh
 * shortens the gap between events by its duration. Errors are refresh tokens Keycloak refused.
 */
export function refreshesPerExpiry(
  sessions: Session[],
  events: RefreshEvent[],
  errors: RefreshEvent[],
  lifetimeMs: number,
  windows: Window[],
) {
  const outages = windows.filter((w) => w.keycloakDown)
  const key = (sid: string, client: string) => `${sid} ${client}`
  const bySession = new Map<string, RefreshEvent[]>()
  for (const e of events) {
    const k = key(e.sessionId, e.clientId)
    bySession.set(k, [...(bySession.get(k) ?? []), e])
  }
  const tooSoon = lifetimeMs - Math.min(30_000, lifetimeMs / 4) - 1000
  let expected = 0
  let refreshed = 0
  let exact = 0
  const doubles: { time: number; why: 'reused' | 'soon'; gapMs: number; sharing: number }[] = []
  const early: { time: number; gapMs: number }[] = []
  const perSession: Tally = {}
  // Sessions of the load that share one Keycloak session and client (their refreshes are one series).
  const sharing = new Map<string, number>()
  for (const s of sessions) sharing.set(key(s.sid, s.client), (sharing.get(key(s.sid, s.client)) ?? 0) + 1)
  const judged = new Set<string>()
  for (const s of sessions) {
    const mine = (bySession.get(key(s.sid, s.client)) ?? []).sort((a, b) => a.time - b.time)
    const crossed = expiriesCrossed(s, lifetimeMs, outages)
    expected += crossed
    refreshed += mine.length
    if (mine.length === crossed) exact++
    add(perSession, String(mine.length - crossed))
    if (judged.has(key(s.sid, s.client))) continue // a series shared with a session already judged
    judged.add(key(s.sid, s.client))
    const presented = new Set<string>()
    mine.forEach((e, i) => {
      const token = e.details?.refresh_token_id
      const gapMs = i > 0 ? e.time - mine[i - 1].time : Infinity
      const reused = token !== undefined && presented.has(token)
      if (reused || gapMs < lifetimeMs / 2) {
        doubles.push({
          time: e.time,
          why: reused ? 'reused' : 'soon',
          gapMs,
          sharing: sharing.get(key(s.sid, s.client))!,
        })
      } else if (gapMs < tooSoon) early.push({ time: e.time, gapMs })
      if (token) presented.add(token)
    })
  }
  const ours = new Set(sessions.map((s) => key(s.sid, s.client)))
  // A refusal after the session's end on purpose began raced it (a refresh under way as it ended).
  const endedFrom = new Map(sessions.flatMap((s) => (s.endingAt ? [[key(s.sid, s.client), s.endingAt] as const] : [])))
  return {
    expected,
    refreshed,
    ratio: expected ? refreshed / expected : 1,
    sessionsExact: exact,
    /** Keycloak's refreshes minus expiries crossed, per session: how many sessions had each difference. */
    differenceHistogram: perSession,
    /** Each refresh too many: when, why (a token presented again, or too soon), and how many load sessions share its series. */
    doubles: doubles.sort((a, b) => a.time - b.time),
    /** Refreshes sooner than keyward's earliest by the events' times, though neither a reuse nor within half a life. */
    early: early.sort((a, b) => a.time - b.time),
    errors: errors
      .filter((e) => ours.has(key(e.sessionId, e.clientId)))
      .map((e) => ({
        time: e.time,
        sid: e.sessionId,
        error: [e.error ?? '?', e.details?.reason].filter(Boolean).join(': '),
        raced: e.time >= (endedFrom.get(key(e.sessionId, e.clientId)) ?? Infinity) - 1000,
      })),
  }
}

/** The least-squares slope of `points` (time in ms) in units per hour. */
export function slopePerHour(points: { t: number; v: number }[]): number | undefined {
  if (points.length < 3) return undefined
  const n = points.length
  const mt = points.reduce((a, p) => a + p.t, 0) / n
  const mv = points.reduce((a, p) => a + p.v, 0) / n
  const num = points.reduce((a, p) => a + (p.t - mt) * (p.v - mv), 0)
  const den = points.reduce((a, p) => a + (p.t - mt) ** 2, 0)
  return (num / den) * 3_600_000
}

export const percentile = (sorted: number[], p: number) =>
  sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] : NaN

/** p50 and p99 of the successful API calls per bucket of `bucketMs` from `start`. */
export function latencyBuckets(answers: Answer[], start: number, bucketMs: number) {
  const buckets = new Map<number, number[]>()
  for (const a of answers) {
    if (!a.what.startsWith('api') || !success(a.status)) continue
    const b = Math.floor((a.at - start) / bucketMs)
    ;(buckets.get(b) ?? buckets.set(b, []).get(b)!).push(a.ms)
  }
  return [...buckets.entries()]
    .sort(([a], [b]) => a - b)
    .map(([b, ms]) => {
      const sorted = ms.sort((x, y) => x - y)
      return {
        minute: (b * bucketMs) / 60_000,
        calls: ms.length,
        p50: percentile(sorted, 50),
        p99: percentile(sorted, 99),
      }
    })
}

export interface Sample {
  minute: number
  process: string
  rssMiB: number
  heapMiB: number
  fds: number
  /** Share of one core since the previous sample (none for the first, or after a restart). */
  cpuPercent?: number
}

/** The plot: one panel per series over the run's minutes, fault windows shaded in each. */
export async function plot(
  samples: Sample[],
  redis: { minute: number; bytesPerSession: number }[],
  latency: ReturnType<typeof latencyBuckets>,
  faults: { name: string; from: number; to: number }[],
  machineBusy: { minute: number; busyPercent: number }[],
): Promise<string> {
  const vega = await import('vega')
  const vl = await import('vega-lite')
  const x = { field: 'minute', type: 'quantitative', title: 'minute' } as const
  const shaded = {
    data: { values: faults },
    mark: { type: 'rect', opacity: 0.15, color: 'red' },
    encoding: { x: { field: 'from', type: 'quantitative' }, x2: { field: 'to' } },
  } as const
  const panel = (title: string, values: object[], y: string, color?: string, yScale = {}) => ({
    title,
    width: 600,
    height: 120,
    layer: [
      shaded,
      {
        data: { values },
        mark: { type: 'line', point: true },
        encoding: {
          x,
          y: { field: y, type: 'quantitative', title: null, scale: yScale },
          ...(color ? { color: { field: color, type: 'nominal' } } : {}),
        },
      },
    ],
  })
  const latencyLong = latency.flatMap((b) => [
    { minute: b.minute, ms: b.p50, percentile: 'p50' },
    { minute: b.minute, ms: b.p99, percentile: 'p99' },
  ])
  const cpu = [
    ...samples
      .filter((s) => s.cpuPercent !== undefined)
      .map((s) => ({ minute: s.minute, percent: s.cpuPercent, of: s.process })),
    // The machine's share of all its cores, on the same scale as one process's share of one core.
    ...machineBusy.map((m) => ({ minute: m.minute, percent: m.busyPercent, of: 'machine (all cores)' })),
  ]
  const spec = vl.compile({
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: 'keyward soak (shaded: fault windows)',
    vconcat: [
      panel('resident memory, MiB (a process and its workers)', samples, 'rssMiB', 'process'),
      panel('V8 heap used, MiB (workers, from /metrics)', samples, 'heapMiB', 'process'),
      panel('open file descriptors', samples, 'fds', 'process'),
      panel('CPU, % (a keyward process: of one core; the machine: of all its cores)', cpu, 'percent', 'of'),
      panel('Redis used_memory per live session, bytes', redis, 'bytesPerSession'),
      panel(
        'API call latency, ms (successful calls, per bucket from its start; log scale)',
        latencyLong,
        'ms',
        'percentile',
        {
          type: 'log',
        },
      ),
    ],
    // One time axis for all; each panel its own colours and legend.
    resolve: { scale: { x: 'shared', color: 'independent' }, legend: { color: 'independent' } },
  } as Parameters<typeof vl.compile>[0]).spec
  return new vega.View(vega.parse(spec), { renderer: 'none' }).toSVG()
}
