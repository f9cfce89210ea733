import { Failure, keycloakUnavailable, storeUnavailable } from '../../src/domain/failures'
import type { TokenGrant, TokenSession } from '../../src/domain/token-session'
import { createLogger } from '../../src/log'
import type { OidcClient } from '../../src/oidc/client'
import { createTokenService, type TokenServiceDeps } from '../../src/sessions/token-service'
import type { RefreshLocks } from '../../src/store/refresh-locks'
import type { TokenSessionStore } from '../../src/store/token-sessions'

// Pure policy with in-memory fakes; the same behaviour against real Keycloak and Redis is in
// test/e2e/refresh*.test.ts.
function world(now: () => number) {
  const records = new Map<string, TokenSession>()
  const locks = new Map<string, string>()
  let fences = 0
  let storeDownFor = 0 // replace() calls that fail as if Redis were away
  const store = {
    get: async (id: string) => (records.has(id) ? structuredClone(records.get(id)!) : undefined),
    replace: async (next: TokenSession, expected: number) => {
      if (storeDownFor > 0 && storeDownFor--) throw storeUnavailable(new Error('down'))
      if (records.get(next.id)?.version !== expected) return false
      records.set(next.id, structuredClone(next))
      return true
    },
    delete: async (s: Pick<TokenSession, 'id'>) => void records.delete(s.id),
  } as unknown as TokenSessionStore
  const lockFake: RefreshLocks = {
    acquire: async (id) => (locks.has(id) ? undefined : (locks.set(id, String(++fences)), String(fences))),
    release: async (id, fence) => void (locks.get(id) === fence && locks.delete(id)),
  }
  let refreshes = 0
  let answer: () => Promise<TokenGrant> = async () => ({
    accessToken: `access-${refreshes}`,
    refreshToken: `refresh-${refreshes}`,
    expiresIn: 300,
    refreshExpiresIn: 1800,
  })
  let inFlight = 0
  let mostInFlight = 0
  const oidc = {
    refresh: async () => {
      refreshes++
      mostInFlight = Math.max(mostInFlight, ++inFlight)
      await new Promise((r) => setTimeout(r, 20)).finally(() => inFlight--)
      return answer()
    },
  } as unknown as OidcClient
  // What the service reported for metrics, one line per report, durations left out.
  const reported: string[] = []
  const limits: number[] = []
  const metrics: TokenServiceDeps['metrics'] = {
    refresh: (outcome) => reported.push(`refresh ${outcome}`),
    refreshSlots: (limit) => limits.push(limit),
    lockWait: (outcome) => reported.push(`lock wait ${outcome}`),
    sessionEnded: (app, kind, reason) => reported.push(`ended ${app} ${kind} ${reason}`),
  }
  const service = () =>
    createTokenService({
      tokenSessions: store,
      locks: lockFake,
      oidcFor: () => oidc,
      refresh: { skewSeconds: 30, skewFraction: 0.25, lockTtlMs: 1000, waitMs: 200, pollMs: 5 },
      keycloakTimeoutMs: 500,
      lifetimes: { onlineFallbackSeconds: 1800, offlineIdleSeconds: 2_592_000 },
      metrics,
      log: createLogger('silent'),
      now,
    })
  const session: TokenSession = {
    id: 's1',
    app: 'web',
    client: 'web',
    kind: 'online',
    sub: 'u',
    sid: 'k',
    claims: {},
    accessExpiresAt: now() - 1,
    refreshExpiresAt: now() + 60_000,
    expiresAt: now() + 60_000,
    createdAt: now() - 300_000,
    refreshedAt: now() - 300_000,
    version: 1,
    tokens: { accessToken: 'access-0', refreshToken: 'refresh-0' },
  }
  records.set('s1', structuredClone(session))
  return {
    records,
    locks,
    service,
    session,
    reported,
    limits,
    refreshes: () => refreshes,
    mostInFlight: () => mostInFlight,
    answerWith: (f: typeof answer) => (answer = f),
    storeDownFor: (calls: number) => (storeDownFor = calls),
  }
}

describe('token service', () => {
  test('an expired token: many callers on two instances, one refresh, everyone gets the new token', async () => {
    const w = world(Date.now)
    const [a, b] = [w.service(), w.service()]
    const tokens = await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 ? a : b).accessToken(w.session)))
    expect(new Set(tokens)).toEqual(new Set(['access-1']))
    expect(w.refreshes()).toBe(1)
    expect(w.records.get('s1')!.version).toBe(2)
    expect(w.locks.size).toBe(0)
    // One refresh; the other instance's callers (one flight) waited for it once.
    expect(w.reported.sort()).toEqual(['lock wait refreshed_elsewhere', 'refresh ok'])
  })

  test('after an outage, every session expired: at most 16 refreshes at Keycloak at once, each session refreshed once', async () => {
    const w = world(Date.now)
    const ids = Array.from({ length: 40 }, (_, i) => `s${i + 1}`)
    for (const id of ids) w.records.set(id, { ...structuredClone(w.session), id })
    const service = w.service()
    const tokens = await Promise.all(ids.map((id) => service.accessToken({ ...w.session, id })))
    expect(tokens).toHaveLength(40)
    expect(w.refreshes()).toBe(40)
    expect(w.mostInFlight()).toBe(16)
  })

  test('a refresh that gets no turn while its lock allows: 503 keycloak_unavailable, nothing sent, counted as no_slot', async () => {
    const w = world(Date.now)
    const slow = w.session
    w.answerWith(async () => {
      await new Promise((r) => setTimeout(r, 700)) // longer than the 500 ms a waiter may wait (lock 1 s − timeout 0.5 s)
      return { accessToken: 'slow', refreshToken: 'slow', expiresIn: 300, refreshExpiresIn: 1800 }
    })
    const ids = Array.from({ length: 17 }, (_, i) => `s${i + 1}`)
    for (const id of ids) w.records.set(id, { ...structuredClone(slow), id })
    const service = w.service()
    const settled = await Promise.allSettled(ids.map((id) => service.accessToken({ ...slow, id })))
    expect(settled.filter((s) => s.status === 'fulfilled')).toHaveLength(16)
    expect(settled.filter((s) => s.status === 'rejected')).toEqual([
      { status: 'rejected', reason: expect.objectContaining({ kind: 'keycloak_unavailable' }) },
    ])
    expect(w.refreshes()).toBe(16)
    expect(w.reported.filter((r) => r === 'refresh no_slot')).toHaveLength(1)
    expect(w.records.get('s17')).toEqual({ ...slow, id: 's17' })
    // Answers that took more than a quarter of the timeout: half as many at once from then on.
    expect(w.limits).toEqual([16, 8])
  })

  test('a fresh token is served without refreshing; a stale one is served while a refresh runs behind', async () => {
    const w = world(Date.now)
    const fresh = { ...w.session, accessExpiresAt: Date.now() + 200_000 }
    expect(await w.service().accessToken(fresh)).toBe('access-0')
    expect(w.refreshes()).toBe(0)
    const stale = { ...w.session, accessExpiresAt: Date.now() + 10_000 }
    w.records.set('s1', structuredClone(stale))
    expect(await w.service().accessToken(stale)).toBe('access-0')
    await new Promise((r) => setTimeout(r, 60))
    expect(w.refreshes()).toBe(1)
    expect(w.records.get('s1')!.tokens.accessToken).toBe('access-1')
  })

  test("Keycloak's refusal ends the session: record deleted, session_expired", async () => {
    const w = world(Date.now)
    w.answerWith(async () => Promise.reject(new Failure('session_ended', 'invalid_grant')))
    await expect(w.service().accessToken(w.session)).rejects.toMatchObject({ kind: 'session_ended' })
    expect(w.records.has('s1')).toBe(false)
    expect(w.reported).toEqual(['ended web online keycloak_ended', 'refresh session_ended'])
  })

  test('a transient failure keeps the session untouched', async () => {
    const w = world(Date.now)
    w.answerWith(async () => Promise.reject(keycloakUnavailable(new Error('down'))))
    await expect(w.service().accessToken(w.session)).rejects.toMatchObject({ kind: 'keycloak_unavailable' })
    expect(w.records.get('s1')).toEqual(w.session)
    expect(w.reported).toEqual(['refresh keycloak_unavailable'])
    expect(w.locks.size).toBe(0)
  })

  test('Redis away right after Keycloak rotated: the write is retried while the lock holds, and the new tokens land', async () => {
    const w = world(Date.now)
    w.storeDownFor(3)
    expect(await w.service().accessToken(w.session)).toBe('access-1')
    expect(w.refreshes()).toBe(1)
    expect(w.records.get('s1')).toMatchObject({ version: 2, tokens: { refreshToken: 'refresh-1' } })
    expect(w.locks.size).toBe(0)
  })

  test('Redis away for longer than the lock: 503 store_unavailable once the lock runs out, no second refresh', async () => {
    const w = world(Date.now)
    w.storeDownFor(Infinity)
    const started = Date.now()
    await expect(w.service().accessToken(w.session)).rejects.toMatchObject({ kind: 'store_unavailable' })
    expect(Date.now() - started).toBeGreaterThanOrEqual(500) // kept trying for (most of) the 1 s lock
    expect(Date.now() - started).toBeLessThan(1500)
    expect(w.refreshes()).toBe(1)
    expect(w.records.get('s1')!.version).toBe(1)
  })

  test('a lock held by someone who never finishes: waiters give up after the wait budget with refresh_timeout', async () => {
    const w = world(Date.now)
    w.locks.set('s1', 'dead-holder')
    const started = Date.now()
    await expect(w.service().accessToken(w.session)).rejects.toMatchObject({ kind: 'refresh_busy' })
    expect(Date.now() - started).toBeGreaterThanOrEqual(200)
    expect(w.refreshes()).toBe(0)
    expect(w.reported).toEqual(['lock wait timeout'])
  })

  test('a forced refresh refreshes a fresh token, unless another refresh already moved the version', async () => {
    const w = world(Date.now)
    const fresh = { ...w.session, accessExpiresAt: Date.now() + 200_000 }
    w.records.set('s1', structuredClone(fresh))
    const svc = w.service()
    expect((await svc.forceRefresh(fresh)).tokens.accessToken).toBe('access-1')
    expect((await svc.forceRefresh(fresh)).version).toBe(2) // saw version 1, record is at 2: no second refresh
    expect(w.refreshes()).toBe(1)
  })

  test('a margin asked for: a fresh token with less left is refreshed once, by every caller together; the margin is capped at half the lifetime', async () => {
    const w = world(Date.now)
    // 300 s lifetime, 100 s left: fresh by the refresh window (30 s), not for a 120-second margin.
    const held = { ...w.session, refreshedAt: Date.now() - 200_000, accessExpiresAt: Date.now() + 100_000 }
    w.records.set('s1', structuredClone(held))
    const svc = w.service()
    expect((await svc.currentSession(held, 60_000)).tokens.accessToken).toBe('access-0')
    const asked = await Promise.all(Array.from({ length: 5 }, () => svc.currentSession(held, 120_000)))
    expect(new Set(asked.map((s) => s.tokens.accessToken))).toEqual(new Set(['access-1']))
    expect(w.refreshes()).toBe(1)
    // The new token lives 300 s: a margin of an hour asks for half of that, which it has.
    expect((await svc.currentSession(asked[0], 3_600_000)).tokens.accessToken).toBe('access-1')
    expect(w.refreshes()).toBe(1)
  })
})
