import { randomBytes } from 'node:crypto'
import { createCookieSessionStore } from '../../src/store/cookie-sessions'
import { createHandoffCodeStore } from '../../src/store/handoff-codes'
import { redisKeys } from '../../src/store/keys'
import { createRefreshLocks } from '../../src/store/refresh-locks'
import { createLoginTransactionStore } from '../../src/store/login-transactions'
import { createMobileCodeStore } from '../../src/store/mobile-codes'
import { createSealer } from '../../src/store/seal'
import { createTokenSessionStore } from '../../src/store/token-sessions'
import type { TokenSession } from '../../src/domain/token-session'

import { scanKeys } from '../../harness/redis-topology'
import type { RedisClient } from '../../src/store/topology'

/** A store made on first use: the suites below are declared before their Redis is up. */
function later<T extends object>(make: () => T): T {
  let made: T | undefined
  return new Proxy({} as T, { get: (_, name) => (made ??= make())[name as keyof T] })
}

/**
 * What every store must do, run against each Redis topology (standalone, Sentinel, Cluster) by the
 * suites in test/integration: the same commands and scripts must work, one slot at a time.
 */
export function storeContract(open: () => Promise<{ redis: RedisClient; close(): Promise<void> }>): void {
  let redis: RedisClient
  let close: () => Promise<void>
  beforeAll(async () => {
    ;({ redis, close } = await open())
  })
  afterAll(async () => {
    await Promise.all((await keys()).map((k) => redis.del(k)))
    await close()
  })

  const prefix = `kwtest:${randomBytes(4).toString('hex')}:`
  const keys = () => scanKeys(redis, `${prefix}*`)

  const tx = { app: 'web', startedAt: 1, codeVerifier: 'v'.repeat(43), nonce: 'n', returnTo: '/x', offline: false }

  describe('login transactions in Redis', () => {
    const store = later(() => createLoginTransactionStore(redis, redisKeys(prefix), 600))

    test('are stored with their TTL and consumed exactly once, even by parallel callbacks', async () => {
      await store.create('state-1', 'binding-1', tx)
      const ttl = await redis.ttl(`${prefix}tx:{state-1}`)
      expect(ttl).toBeGreaterThan(590)
      expect(ttl).toBeLessThanOrEqual(600)
      const results = await Promise.all(Array.from({ length: 20 }, () => store.consume('state-1', 'binding-1')))
      expect(results.filter((r) => r.ok)).toEqual([{ ok: true, tx }])
      expect(results.filter((r) => !r.ok)).toHaveLength(19)
      expect(await keys()).toEqual([])
    })

    test('a wrong browser binding does not consume the transaction', async () => {
      await store.create('state-2', 'binding-2', tx)
      expect(await store.consume('state-2', 'someone-else')).toEqual({ ok: false, reason: 'not_bound' })
      expect(await store.consume('state-2', '')).toEqual({ ok: false, reason: 'not_bound' })
      expect(await store.consume('state-2', 'binding-2')).toEqual({ ok: true, tx })
      expect(await store.consume('unknown', 'binding-2')).toEqual({ ok: false, reason: 'unknown' })
    })

    test('the binding value itself is not stored, only its hash', async () => {
      await store.create('state-3', 'the-binding-value', tx)
      expect(JSON.stringify(await redis.hgetall(`${prefix}tx:{state-3}`))).not.toContain('the-binding-value')
      await store.consume('state-3', 'the-binding-value')
    })
  })

  describe('token sessions in Redis', () => {
    const key1 = { kid: 'k1', key: randomBytes(32) }
    const store = later(() => createTokenSessionStore(redis, redisKeys(prefix), createSealer([key1])))
    const session = (id: string, ttlMs: number, sid = 'kc-sid'): TokenSession => ({
      id,
      app: 'web',
      client: 'web',
      kind: 'online',
      sub: 'user-1',
      sid,
      claims: { sub: 'user-1', name: 'Alice' },
      accessExpiresAt: Date.now() + 60_000,
      refreshExpiresAt: Date.now() + ttlMs,
      expiresAt: Date.now() + ttlMs,
      createdAt: Date.now(),
      refreshedAt: Date.now(),
      cookieSessionId: 'cookie-1',
      version: 1,
      tokens: { accessToken: 'access-secret', refreshToken: 'refresh-secret' },
    })

    test('a session round-trips, expires with its refresh token, and is indexed by sub and sid', async () => {
      const s = session('s1', 1_800_000)
      await store.create(s)
      expect(await store.get('s1')).toEqual(s)
      const pttl = await redis.pttl(`${prefix}tok:{s1}`)
      expect(pttl).toBeGreaterThan(1_790_000)
      expect(pttl).toBeLessThanOrEqual(1_800_000)
      expect(await redis.zrange(`${prefix}idx:sub:user-1`, '0', '-1')).toEqual(['s1'])
      expect(await redis.zrange(`${prefix}idx:sid:kc-sid`, '0', '-1')).toEqual(['s1'])
      expect(await redis.pttl(`${prefix}idx:sub:user-1`)).toBeGreaterThanOrEqual(pttl - 1000)
    })

    test('tokens are encrypted at rest', async () => {
      const raw = Object.values(await redis.hgetallBuffer(`${prefix}tok:{s1}`)).map((v) => v.toString('latin1'))
      for (const secret of ['access-secret', 'refresh-secret']) expect(raw.join()).not.toContain(secret)
    })

    test('an index lives as long as its longest-lived member', async () => {
      await store.create(session('s2', 3_600_000, 'kc-sid-2'))
      expect(await redis.pttl(`${prefix}idx:sub:user-1`)).toBeGreaterThan(3_500_000)
      await store.create(session('s3', 60_000, 'kc-sid-3'))
      expect(await redis.pttl(`${prefix}idx:sub:user-1`)).toBeGreaterThan(3_500_000)
      expect((await redis.zrange(`${prefix}idx:sub:user-1`, '0', '-1')).sort()).toEqual(['s1', 's2', 's3'])
    })

    test('an index lists only live sessions: members past their expiry, or whose record is gone, are dropped', async () => {
      await redis.zadd(`${prefix}idx:sub:user-1`, Date.now() - 1000, 'expired', Date.now() + 60_000, 'vanished')
      expect((await store.listBySub('user-1')).map((s) => s.id).sort()).toEqual(['s1', 's2', 's3'])
      expect((await redis.zrange(`${prefix}idx:sub:user-1`, '0', '-1')).sort()).toEqual(['s1', 's2', 's3'])
    })

    test('delete removes the record and its index entries', async () => {
      for (const id of ['s1', 's2', 's3']) await store.delete((await store.get(id))!)
      expect(await store.get('s1')).toBeUndefined()
      expect(await keys()).toEqual([])
    })

    test("the remember-me cookie's expiry is kept apart from the metadata, and only on a live record", async () => {
      await store.create({ ...session('s5', 60_000), cookieExpiresAt: 1234 })
      expect((await store.get('s5'))!.cookieExpiresAt).toBe(1234)
      await store.noteCookieExpiry('s5', 5678)
      expect((await store.get('s5'))!.cookieExpiresAt).toBe(5678)
      await store.delete(session('s5', 60_000))
      await store.noteCookieExpiry('s5', 9999)
      expect(await keys()).toEqual([])
    })

    test("a sibling's activity moves a session's end forward, never back nor past its refresh limit, and keeps its version", async () => {
      const now = Date.now()
      const quiet = { ...session('s6', 60_000), refreshLimitAt: now + 600_000, idleEndsAt: now + 60_000 }
      await store.create(quiet)
      await store.extendIdle(quiet, now + 300_000)
      await store.extendIdle(quiet, now + 120_000) // an older grant, come late: nothing moves back
      const moved = (await store.get('s6'))!
      expect(moved).toMatchObject({ version: 1, expiresAt: now + 300_000, refreshExpiresAt: now + 300_000 })
      for (const key of [`${prefix}tok:{s6}`, `${prefix}idx:sid:kc-sid`, `${prefix}idx:sub:user-1`]) {
        expect(await redis.pttl(key)).toBeGreaterThan(290_000)
      }
      // The record's own limit holds whatever the sibling says, and its own next write starts over.
      await redis.hset(`${prefix}tok:{s6}`, 'i', now + 900_000)
      expect((await store.get('s6'))!.expiresAt).toBe(now + 600_000)
      expect(await store.replace({ ...quiet, version: 2, expiresAt: now + 90_000 }, 1)).toBe(true)
      expect((await store.get('s6'))!.expiresAt).toBe(now + 90_000)
      expect(await redis.pttl(`${prefix}tok:{s6}`)).toBeLessThanOrEqual(90_000)
      await store.delete(quiet)
      await store.extendIdle(quiet, now + 300_000) // ended meanwhile: stays ended
      expect(await redis.exists(`${prefix}tok:{s6}`)).toBe(0)
    })

    test('a session already past its expiry is not stored', async () => {
      await store.create(session('gone', -1000))
      expect(await keys()).toEqual([])
    })

    test('a session sealed with a retired key reads as absent', async () => {
      await store.create(session('s4', 60_000))
      const rotated = createTokenSessionStore(
        redis,
        redisKeys(prefix),
        createSealer([{ kid: 'k2', key: randomBytes(32) }]),
      )
      expect(await rotated.get('s4')).toBeUndefined()
      const both = createTokenSessionStore(
        redis,
        redisKeys(prefix),
        createSealer([{ kid: 'k2', key: randomBytes(32) }, key1]),
      )
      expect((await both.get('s4'))?.tokens.refreshToken).toBe('refresh-secret')
      await store.delete(session('s4', 60_000))
    })
  })

  describe('cookie sessions in Redis', () => {
    test('the record expires with its token session and is never touched', async () => {
      const store = createCookieSessionStore(redis, redisKeys(prefix))
      expect(store.disableTouch).toBe(true)
      const expiresAt = Date.now() + 900_000
      await store.set('cookie-2', { cookie: { originalMaxAge: null }, expiresAt }) // connect-redis 8 answers a promise
      const ttl = await redis.ttl(`${prefix}sess:cookie-2`)
      expect(ttl).toBeGreaterThan(890)
      expect(ttl).toBeLessThanOrEqual(900)
      expect(JSON.parse((await redis.get(`${prefix}sess:cookie-2`))!)).toMatchObject({ expiresAt })
      await redis.del(`${prefix}sess:cookie-2`)
    })
  })

  describe('refresh locks in Redis', () => {
    const locks = later(() => createRefreshLocks(redis, redisKeys(prefix), 500))

    test('one holder at a time, with a TTL, released only with its own fencing value', async () => {
      const fence = await locks.acquire('s9')
      expect(fence).toEqual(expect.any(String))
      expect(await locks.acquire('s9')).toBeUndefined()
      const pttl = await redis.pttl(`${prefix}lock:{s9}`)
      expect(pttl).toBeGreaterThan(0)
      expect(pttl).toBeLessThanOrEqual(500)
      await locks.release('s9', 'someone-else')
      expect(await locks.acquire('s9')).toBeUndefined()
      await locks.release('s9', fence!)
      const next = await locks.acquire('s9')
      expect(next).toEqual(expect.any(String))
      expect(next).not.toBe(fence)
      await locks.release('s9', next!)
    })

    test('a lock left by a dead holder frees itself after its TTL', async () => {
      expect(await locks.acquire('s10')).toEqual(expect.any(String))
      await new Promise((r) => setTimeout(r, 600))
      expect(await locks.acquire('s10')).toEqual(expect.any(String))
      await redis.del(`${prefix}lock:{s10}`)
    })

    test('parallel acquirers: exactly one wins', async () => {
      const fences = await Promise.all(Array.from({ length: 20 }, () => locks.acquire('s11')))
      expect(fences.filter(Boolean)).toHaveLength(1)
      await redis.del(`${prefix}lock:{s11}`)
    })
  })

  describe('refreshed token sessions: compare-and-set on the version', () => {
    const store = later(() =>
      createTokenSessionStore(redis, redisKeys(prefix), createSealer([{ kid: 'k1', key: randomBytes(32) }])),
    )
    const base: TokenSession = {
      id: 'cas',
      app: 'web',
      client: 'web',
      kind: 'online',
      sub: 'user-2',
      sid: 'kc-cas',
      claims: {},
      cookieSessionId: 'cookie-cas',
      accessExpiresAt: Date.now() + 60_000,
      refreshExpiresAt: Date.now() + 60_000,
      expiresAt: Date.now() + 60_000,
      createdAt: Date.now(),
      refreshedAt: Date.now(),
      version: 1,
      tokens: { accessToken: 'a1', refreshToken: 'r1' },
    }

    test('the first writer of version 2 wins; a slow writer that read version 1 cannot put its tokens back', async () => {
      await store.create(base)
      await redis.set(`${prefix}sess:cookie-cas`, '{}', 'PX', 60_000)
      const winner = {
        ...base,
        version: 2,
        expiresAt: Date.now() + 600_000,
        tokens: { accessToken: 'a2', refreshToken: 'r2' },
      }
      const loser = { ...base, version: 2, tokens: { accessToken: 'stale', refreshToken: 'stale' } }
      expect(await store.replace(winner, 1)).toBe(true)
      expect(await store.replace(loser, 1)).toBe(false)
      expect((await store.get('cas'))!.tokens).toEqual({ accessToken: 'a2', refreshToken: 'r2' })
      // The record, its indexes and the cookie session slide to the new expiry.
      for (const key of [
        `${prefix}tok:{cas}`,
        `${prefix}idx:sub:user-2`,
        `${prefix}idx:sid:kc-cas`,
        `${prefix}sess:cookie-cas`,
      ]) {
        expect(await redis.pttl(key)).toBeGreaterThan(590_000)
      }
      await store.delete(winner)
      expect(await keys()).toEqual([])
    })

    test('a session that is gone is not brought back by a late write', async () => {
      expect(await store.replace({ ...base, id: 'gone-cas', version: 2 }, 1)).toBe(false)
      expect(await keys()).toEqual([])
    })
  })

  describe('mobile one-time codes in Redis', () => {
    const store = later(() =>
      createMobileCodeStore(redis, redisKeys(prefix), createSealer([{ kid: 'k1', key: randomBytes(32) }]), 60),
    )
    const binding = { app: 'web', codeChallenge: 'c'.repeat(43), redirectUri: 'com.example.app:/oauth' }
    const held = {
      session: {
        id: 'm1',
        app: 'web',
        sub: 'user-3',
        tokens: { accessToken: 'access-secret', refreshToken: 'refresh-secret' },
      } as TokenSession,
      ownKeycloakSession: true,
    }

    test('a code is stored by its hash for at most a minute, with the session sealed', async () => {
      await store.create('the-code', binding, held)
      const [key] = await keys()
      expect(key).not.toContain('the-code')
      expect(await redis.ttl(key)).toBeGreaterThan(55)
      expect(await redis.ttl(key)).toBeLessThanOrEqual(60)
      expect(JSON.stringify(await redis.hgetall(key))).not.toMatch(/secret/)
    })

    test('only the right challenge, redirect URI and app redeem it, and only once; wrong ones leave it in place', async () => {
      for (const wrong of [
        { codeChallenge: 'd'.repeat(43) },
        { redirectUri: 'com.example.app:/other' },
        { app: 'sibling' },
      ]) {
        expect(await store.redeem('the-code', { ...binding, ...wrong })).toEqual({ ok: false, reason: 'mismatch' })
      }
      expect(await store.redeem('another-code', binding)).toEqual({ ok: false, reason: 'unknown' })
      const redeemed = await Promise.all(Array.from({ length: 10 }, () => store.redeem('the-code', binding)))
      expect(redeemed.filter((r) => r.ok)).toEqual([{ ok: true, login: held }])
      expect(redeemed.filter((r) => !r.ok)).toEqual(Array(9).fill({ ok: false, reason: 'unknown' }))
      expect(await keys()).toEqual([])
    })
  })

  describe('handoff codes in Redis', () => {
    const store = later(() => createHandoffCodeStore(redis, redisKeys(prefix), 30))
    const web = { sourceId: 'source-1', target: 'sibling', returnTo: '/orders' }
    const mobile = { codeChallenge: 'c'.repeat(43), redirectUri: 'com.example.phone:/handoff' }

    test('a code is stored by its hash for its lifetime, holding no token', async () => {
      await store.create('web-code', web)
      const [key] = await keys()
      expect(key).not.toContain('web-code')
      expect(await redis.ttl(key)).toBeGreaterThan(25)
      expect(await redis.ttl(key)).toBeLessThanOrEqual(30)
      expect(await redis.hgetall(key)).toEqual({ s: 'source-1', t: 'sibling', r: '/orders' })
    })

    test('only its target takes it, without a proof, once; another app or a proof leaves it in place', async () => {
      expect(await store.take('web-code', 'web')).toEqual({ ok: false, reason: 'mismatch' })
      expect(await store.take('web-code', 'sibling', mobile)).toEqual({ ok: false, reason: 'mismatch' })
      const taken = await Promise.all(Array.from({ length: 10 }, () => store.take('web-code', 'sibling')))
      expect(taken.filter((t) => t.ok)).toEqual([{ ok: true, handoff: web }])
      expect(taken.filter((t) => !t.ok)).toEqual(Array(9).fill({ ok: false, reason: 'unknown' }))
      expect(await keys()).toEqual([])
    })

    test("a mobile app's code is taken only with its challenge and redirect URI", async () => {
      await store.create('app-code', { ...web, target: 'phone', mobile })
      for (const proof of [
        undefined,
        { ...mobile, codeChallenge: 'd'.repeat(43) },
        { ...mobile, redirectUri: 'x:/y' },
      ]) {
        expect(await store.take('app-code', 'phone', proof)).toEqual({ ok: false, reason: 'mismatch' })
      }
      expect(await store.take('app-code', 'phone', mobile)).toEqual({
        ok: true,
        handoff: { sourceId: 'source-1', target: 'phone', returnTo: '/orders' },
      })
    })
  })
}
