/**
 * The soak's load: sessions of four kinds, each calling the API now and then, and the churn around
 * them (logins, logouts, revocations, handoffs, back-channel logouts). Every answer is recorded with
 * its time, so that the report can tell answers inside a fault window from those outside.
 */
import type { Redis } from 'ioredis'
import { Browser } from '../harness/browser'
import { waitUntil } from '../harness/keyward'
import { bearer, MobileApp } from '../harness/mobile-app'
import { sessionIdOf } from '../src/domain/opaque'
import { CLIENTS, type Stack } from './soak-stack'

export type Kind = 'web' | 'mobile' | 'offline' | 'handoff'
/** Share of each kind among the sessions logged in (handed-over ones are made from web sessions). */
const MIX: [Kind, number][] = [
  ['web', 0.55],
  ['mobile', 0.15],
  ['offline', 0.15],
  ['handoff', 0.15],
]
/** The documented 503s a client is told to retry (docs/routes.md): allowed inside a fault window. */
export const DOCUMENTED_503 = ['store_unavailable', 'keycloak_unavailable', 'refresh_timeout', 'shutting_down']

export interface Session {
  kind: Kind
  /** The Cookie header value (web, offline, handoff) or the mobile handle. */
  credential: string
  host: '127.0.0.1' | 'localhost'
  /** Keycloak's session id and the client refreshing in it: what its REFRESH_TOKEN events name. */
  sid: string
  client: string
  createdAt: number
  /** When the login's access token expires: the first expiry the load may cross. */
  firstExpiry: number
  /** Starts of the API calls that succeeded (each used a valid token: what refreshes are judged by). */
  okCalls: number[]
  children: Session[]
  nextCall: number
  /** The first answer that said the session was over, not on purpose. */
  firstFailure?: { at: number; status: string }
  /** A handoff from it is under way: one at a time, and one handed-over session per web session. */
  handingOff?: boolean
  /** Set when an end on purpose starts: the load leaves it alone from then on. */
  ending?: string
  /** When that end began (a refresh Keycloak refuses from then on raced it). */
  endingAt?: number
}

export interface Answer {
  at: number
  ms: number
  what: string
  status: string
  /** The session's end on purpose had begun when this was answered: not judged. */
  raced?: boolean
}

interface Reply {
  ok: boolean
  status: number
  /** An error's problem code (docs/routes.md). */
  code?: string
  headers: Headers
  body: string
}

const pick = <T>(xs: T[]): T | undefined => xs[Math.floor(Math.random() * xs.length)]
/** An exponentially distributed wait with this mean: calls arrive as a Poisson process. */
const wait = (meanMs: number) => -Math.log(1 - Math.random()) * meanMs

export class Load {
  readonly sessions: Session[] = []
  readonly answers: Answer[] = []
  /** Every Keycloak session an offline login made: its online twin is not keyward's to count. */
  readonly offlineSids = new Set<string>()
  private readonly inFlight = new Set<Promise<unknown>>()
  private readonly timers = new Set<NodeJS.Timeout>()

  constructor(
    private readonly stack: Stack,
    private readonly redis: Redis,
    private readonly users: string[],
    private readonly thinkMs: number,
  ) {}

  live(): Session[] {
    return this.sessions.filter((s) => !s.ending)
  }

  /** A keyward process chosen at random: both serve every session (one Redis). */
  private base(host: Session['host']): string {
    return pick(this.stack.nodes)!.base(host)
  }

  /** One request, timed and recorded under `what` with its status (and an error's problem code). */
  async request(what: string, url: string, init: RequestInit = {}, session?: Session): Promise<Reply | undefined> {
    const at = Date.now()
    const answer = (status: string) =>
      this.answers.push({ at, ms: Date.now() - at, what, status, raced: session?.ending !== undefined || undefined })
    try {
      const res = await fetch(url, { ...init, redirect: 'manual', signal: AbortSignal.timeout(60_000) })
      const body = await res.text()
      const code = res.status >= 400 ? /"code":"(\w+)"/.exec(body)?.[1] : undefined
      answer(code ? `${res.status} ${code}` : String(res.status))
      return { ok: res.ok, status: res.status, code, headers: res.headers, body }
    } catch (err) {
      answer(`no answer (${((err as Error).cause as { code?: string })?.code ?? (err as Error).name})`)
      return undefined
    }
  }

  private headers(s: Session, extra: Record<string, string> = {}): Record<string, string> {
    return s.kind === 'mobile' ? bearer(s.credential, extra) : { cookie: s.credential, 'x-csrf': '1', ...extra }
  }

  /** One API call of `s`; true when it succeeded. */
  async call(s: Session, what = 'api'): Promise<boolean> {
    const at = Date.now()
    const url = `${this.base(s.host)}/api/up/items`
    const res = await this.request(`${what} (${s.kind})`, url, { headers: this.headers(s) }, s)
    if (res?.ok) s.okCalls.push(at)
    else if (res?.status === 401 && !s.ending) s.firstFailure ??= { at, status: `401 ${res.code}` }
    return res?.ok ?? false
  }

  /** Keycloak's session id and the access token's expiry, from keyward's record of the session. */
  private async record(credential: string): Promise<{ sid: string; accessExpiresAt: number }> {
    const key = `${this.stack.shared.REDIS_PREFIX}tok:{${sessionIdOf(credential)}}`
    // Read through Sentinel: during a fail-over this client may still be on the old primary a while.
    let meta: string | null = null
    await waitUntil(async () => (meta = await this.redis.hget(key, 'm').catch(() => null)) !== null, 15_000, 200)
    return JSON.parse(meta!) as { sid: string; accessExpiresAt: number }
  }

  private async track(
    kind: Kind,
    credential: string,
    opener: string,
    host: Session['host'] = '127.0.0.1',
  ): Promise<Session> {
    const { sid, accessExpiresAt } = await this.record(opener)
    const s: Session = {
      kind,
      credential,
      host,
      sid,
      client: host === 'localhost' ? CLIENTS.sibling : CLIENTS.web,
      createdAt: Date.now(),
      firstExpiry: accessExpiresAt,
      okCalls: [],
      children: [],
      nextCall: Date.now() + wait(this.thinkMs),
    }
    if (kind === 'offline') this.offlineSids.add(sid)
    this.sessions.push(s)
    return s
  }

  /** A browser login (with "remember me" for `offline`) through Keycloak's form. */
  private async browserLogin(kind: 'web' | 'offline'): Promise<Session> {
    const user = pick(this.users)!
    const browser = new Browser()
    const base = this.base('127.0.0.1')
    await browser.login(
      base,
      user,
      `${user}-password`,
      `/auth/login?returnTo=/${kind === 'offline' ? '&offline=1' : ''}`,
    )
    const cookie = (await browser.jar.getCookies(base)).find((c) => c.key === 'web')
    if (!cookie) throw new Error('no session cookie after the login')
    const cookieSessionId = /^s:([^.]+)\./.exec(decodeURIComponent(cookie.value))![1]
    return this.track(kind, `web=${cookie.value}`, cookieSessionId)
  }

  private async mobileLogin(): Promise<Session> {
    const handle = await new MobileApp(this.base('127.0.0.1')).signIn(pick(this.users)!)
    return this.track('mobile', handle, handle)
  }

  /** A web session handed over to `sibling`: the target's own session, in the same Keycloak session. */
  private async handoff(parent: Session): Promise<Session | undefined> {
    const started = await this.request('handoff', `${this.base('127.0.0.1')}/auth/handoff`, {
      method: 'POST',
      headers: this.headers(parent, { 'content-type': 'application/json' }),
      body: JSON.stringify({ target: 'sibling' }),
    })
    if (!started?.ok) return undefined
    const { url } = JSON.parse(started.body) as { url: string }
    const landed = await this.request('handoff complete', url)
    const cookie = landed?.headers.getSetCookie().find((c) => c.startsWith('sibling='))
    if (landed?.status !== 302 || !cookie) return undefined
    const pair = cookie.split(';')[0]
    const cookieSessionId = /^s:([^.]+)\./.exec(decodeURIComponent(pair.slice('sibling='.length)))![1]
    // Completing a handoff makes sure the source's token is fresh: a use of the source, as a call is.
    parent.okCalls.push(Date.now())
    const child = await this.track('handoff', pair, cookieSessionId, 'localhost')
    parent.children.push(child)
    return child
  }

  /** One new session of `kind`; undefined when the login failed (recorded as such). */
  async login(kind: Kind): Promise<Session | undefined> {
    const at = Date.now()
    try {
      if (kind === 'handoff') {
        // One handed-over session per web session: two would share one Keycloak client session, and
        // each refresh of one would make the other's rotated refresh token stale.
        const parent = pick(
          this.live().filter((s) => s.kind === 'web' && !s.handingOff && s.children.every((c) => c.ending)),
        )
        if (!parent) return undefined
        parent.handingOff = true
        return await this.handoff(parent).finally(() => (parent.handingOff = undefined))
      }
      const s = kind === 'mobile' ? await this.mobileLogin() : await this.browserLogin(kind)
      this.answers.push({ at, ms: Date.now() - at, what: `login ${kind}`, status: 'ok' })
      return s
    } catch (err) {
      // Without the address, which carries the login's parameters: failures of a kind tally together.
      const why = (err as Error).message.split(' at http')[0]
      this.answers.push({ at, ms: Date.now() - at, what: `login ${kind}`, status: `failed: ${why}` })
      return undefined
    }
  }

  /** `count` sessions in the mix, `concurrency` logins at a time (each costs Keycloak a password hash). */
  async populate(count: number, concurrency: number): Promise<void> {
    const kinds = MIX.flatMap(([kind, share]) => Array<Kind>(Math.round(count * share)).fill(kind))
    // Handed-over sessions need their web sessions first.
    kinds.sort((a, b) => Number(a === 'handoff') - Number(b === 'handoff'))
    let next = 0
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < kinds.length) await this.login(kinds[next++])
      }),
    )
  }

  /** Marks `s` and the sessions handed over from it (same Keycloak session) as ended on purpose. */
  private end(s: Session, why: string): void {
    s.ending ??= why
    s.endingAt ??= Date.now()
    for (const child of s.children) this.end(child, why)
  }

  private async endWith(what: string, s: Session | undefined, path: string): Promise<void> {
    if (!s) return
    this.end(s, what)
    const res = await this.request(what, `${this.base(s.host)}${path}`, { method: 'POST', headers: this.headers(s) })
    if (!res?.ok) this.revive(s) // keyward says nothing changed (503): the session lives on
  }

  private revive(s: Session): void {
    s.ending = undefined
    s.endingAt = undefined
    for (const child of s.children) this.revive(child)
  }

  readonly churn: Record<string, () => Promise<unknown>> = {
    login: () => this.login(pick(MIX.filter(([k]) => k !== 'handoff').map(([k]) => k))!),
    handoff: () => this.login('handoff'),
    logout: () => this.endWith('logout', pick(this.live().filter((s) => s.kind !== 'handoff')), '/auth/logout'),
    revoke: () => this.endWith('revoke', pick(this.live().filter((s) => s.kind === 'offline')), '/auth/revoke'),
    'back-channel logout': () => this.backchannelLogout(),
  }

  /** Ends a web session's Keycloak session from Keycloak's side: Keycloak tells keyward by back-channel. */
  private async backchannelLogout(): Promise<void> {
    const s = pick(this.live().filter((x) => x.kind === 'web'))
    if (!s) return
    this.end(s, 'back-channel logout')
    const at = Date.now()
    try {
      await this.stack.admin.call('DELETE', `/sessions/${s.sid}`)
      this.answers.push({ at, ms: Date.now() - at, what: 'back-channel logout', status: 'ok' })
    } catch (err) {
      this.answers.push({
        at,
        ms: Date.now() - at,
        what: 'back-channel logout',
        status: `failed: ${(err as Error).message}`,
      })
      this.revive(s)
    }
  }

  private spawn(work: Promise<unknown>): void {
    this.inFlight.add(work)
    void work.finally(() => this.inFlight.delete(work))
  }

  /**
   * Every live session calls the API after a random wait (mean `thinkMs`), from its login on: started
   * before the sessions are made, so that their tokens expire, and are refreshed, spread over time as
   * they would be, not all at the run's start.
   */
  startCalls(): void {
    this.timers.add(
      setInterval(() => {
        const now = Date.now()
        for (const s of this.live()) {
          if (s.nextCall > now) continue
          s.nextCall = now + wait(this.thinkMs)
          this.spawn(this.call(s))
        }
      }, 100),
    )
  }

  /**
   * The churn, at `perMinute` events a minute each; `paused()` holds back what a fault would make
   * unjudgeable (a back-channel logout that Keycloak cannot deliver is never sent again).
   */
  startChurn(perMinute: Record<string, number>, paused: () => boolean): void {
    for (const [what, rate] of Object.entries(perMinute)) {
      if (rate <= 0) continue
      const next = () => {
        const timer = setTimeout(
          () => {
            this.timers.delete(timer)
            if (what !== 'back-channel logout' || !paused()) this.spawn(this.churn[what]())
            next()
          },
          wait(60_000 / rate),
        )
        this.timers.add(timer)
      }
      next()
    }
  }

  /** Stops starting new work and waits for what is under way. */
  async stop(): Promise<void> {
    for (const t of this.timers) clearTimeout(t)
    this.timers.clear()
    await Promise.allSettled([...this.inFlight])
  }
}
