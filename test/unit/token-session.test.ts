import { idleExtension, newSession, openedBy, profileClaims } from '../../src/domain/token-session'

const now = Date.UTC(2026, 10, 22, 12, 0, 0)
const lifetimes = { onlineFallbackSeconds: 1800, offlineIdleSeconds: 2_592_000 }
const base = { app: 'web', kind: 'online' as const, now, lifetimes }

describe('newSession', () => {
  test('expiry times come from expires_in and refresh_expires_in, counted from the local receive time', () => {
    const s = newSession(
      {
        accessToken: 'a',
        refreshToken: 'r',
        expiresIn: 300,
        refreshExpiresIn: 1800,
        claims: { sub: 'u1', sid: 'k1', nonce: 'n', email: 'u@x' },
      },
      base,
    )
    expect(s).toMatchObject({
      sub: 'u1',
      sid: 'k1',
      accessExpiresAt: now + 300_000,
      refreshExpiresAt: now + 1_800_000,
      expiresAt: now + 1_800_000,
      version: 1,
      claims: { sub: 'u1', email: 'u@x' },
    })
    expect(s.claims).not.toHaveProperty('nonce')
    expect(s.tokens).toEqual({ accessToken: 'a', refreshToken: 'r' }) // no ID token is kept
  })

  test('with the time the request was sent, expiries count from it: Keycloak issued the tokens after it', () => {
    const s = newSession(
      { accessToken: 'a', expiresIn: 300, refreshExpiresIn: 1800, requestedAt: now - 1200, claims: { sub: 'u1' } },
      base,
    )
    expect(s).toMatchObject({ accessExpiresAt: now - 1200 + 300_000, refreshExpiresAt: now - 1200 + 1_800_000 })
    expect(s.createdAt).toBe(now)
  })

  test("with the realm's SSO Session Idle configured, an online session lives no longer than that past its last refresh; an offline one is not capped", () => {
    const idle = { ...lifetimes, onlineIdleSeconds: 1800 }
    const grant = { accessToken: 'a', expiresIn: 300, refreshExpiresIn: 36_000, claims: { sub: 'u1' } }
    expect(newSession(grant, { ...base, lifetimes: idle })).toMatchObject({
      refreshExpiresAt: now + 1_800_000,
      expiresAt: now + 1_800_000,
    })
    expect(newSession(grant, base)).toMatchObject({ refreshExpiresAt: now + 36_000_000 })
    expect(newSession(grant, { ...base, kind: 'offline', lifetimes: idle })).toMatchObject({
      refreshExpiresAt: now + 36_000_000,
    })
  })

  test("a sibling's later grant moves an idle-capped online session's end, never past its own refresh limit, never back", () => {
    const idle = { ...lifetimes, onlineIdleSeconds: 1800 }
    const grant = { accessToken: 'a', expiresIn: 300, refreshExpiresIn: 36_000, claims: { sub: 'u1', sid: 'k1' } }
    const quiet = openedBy(newSession(grant, { ...base, lifetimes: idle }), 'id1', 'web')
    expect(quiet).toMatchObject({ idleEndsAt: now + 1_800_000, refreshLimitAt: now + 36_000_000 })
    expect(idleExtension(quiet, now + 600_000 + 1_800_000)).toBe(now + 2_400_000)
    expect(idleExtension(quiet, now + 40_000_000)).toBe(now + 36_000_000)
    expect(idleExtension(quiet, now + 1_000)).toBeUndefined()
    // Not capped, so nothing to move: no idle configured, or an offline session (its own idle).
    expect(idleExtension(openedBy(newSession(grant, base), 'id2', 'web'), now + 2_400_000)).toBeUndefined()
    const offline = openedBy(newSession(grant, { ...base, kind: 'offline', lifetimes: idle }), 'id3', 'web')
    expect(idleExtension(offline, now + 2_400_000)).toBeUndefined()
  })

  test('without a refresh limit from Keycloak the record lives for the configured fallback', () => {
    const s = newSession(
      { accessToken: 'a', refreshToken: 'r', expiresIn: 60, refreshExpiresIn: 0, claims: { sub: 'u1' } },
      base,
    )
    expect(s.refreshExpiresAt).toBeUndefined()
    expect(s.expiresAt).toBe(now + 1_800_000)
    expect(s.sid).toBeUndefined()
  })

  test('a grant without an ID token subject is refused', () => {
    expect(() => newSession({ accessToken: 'a', expiresIn: 60 }, base)).toThrow(TypeError)
  })

  test('profileClaims keeps only the profile claims', () => {
    expect(profileClaims({ sub: 's', name: 'N', at_hash: 'x', sid: 'k', azp: 'c' })).toEqual({ sub: 's', name: 'N' })
    expect(profileClaims(undefined)).toEqual({})
  })
})
