import { ownKeycloakSession } from '../../src/sessions/login'

describe('ownKeycloakSession', () => {
  const started = Date.UTC(2026, 10, 22, 12, 0, 0, 400)
  const second = Math.floor(started / 1000) // auth_time is in whole seconds
  const session = (claims: Record<string, unknown>) => ({ claims }) as Parameters<typeof ownKeycloakSession>[0]
  test.each([
    [{ acr: '1', auth_time: second }, true, 'signed in during the login (same second)'],
    [{ acr: '1', auth_time: second + 20 }, true, 'signed in during the login'],
    [{ acr: '0', auth_time: second + 20 }, false, "Keycloak's SSO cookie"],
    [{ acr: 'gold', auth_time: second - 60 }, false, 'a step-up level from an earlier sign-in'],
    [{ acr: '1' }, false, 'no auth_time: not known to be its own'],
  ])('%j → %p (%s)', (claims: Record<string, unknown>, expected: boolean, _why: string) => {
    expect(ownKeycloakSession(session(claims), started)).toBe(expected)
  })
})
