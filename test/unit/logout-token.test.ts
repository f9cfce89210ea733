import { createLocalJWKSet, exportJWK, generateKeyPair, SignJWT, type JWK } from 'jose'
import { isFailure } from '../../src/domain/failures'
import { logoutTokenVerifier } from '../../src/oidc/logout-token'

// The checks of OpenID Connect Back-Channel Logout 1.0 §2.6, one per case, on keys made here. The
// same refusals against a real Keycloak realm's keys are in test/e2e/backchannel-logout.test.ts.
const issuer = new URL('https://sso.example.com/realms/acme')
const EVENT = 'http://schemas.openid.net/event/backchannel-logout'

describe('logout token checks', () => {
  let sign: (claims: Record<string, unknown>, header?: Record<string, unknown>) => Promise<string>
  let verify: ReturnType<typeof logoutTokenVerifier>
  let other: CryptoKey

  beforeAll(async () => {
    const realm = await generateKeyPair('RS256')
    other = (await generateKeyPair('RS256')).privateKey
    const jwk: JWK = { ...(await exportJWK(realm.publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' }
    verify = logoutTokenVerifier({ issuer, keys: createLocalJWKSet({ keys: [jwk] }) })
    sign = (claims, { key, ...header } = {}) => {
      const now = Math.floor(Date.now() / 1000)
      const payload = {
        iss: issuer.href,
        aud: 'shop',
        iat: now,
        exp: now + 120,
        jti: 'jti-1',
        sid: 'sid-1',
        sub: 'user-1',
      }
      return new SignJWT({ ...payload, events: { [EVENT]: {} }, ...claims })
        .setProtectedHeader({ alg: 'RS256', kid: 'k1', typ: 'logout+jwt', ...header })
        .sign((key as CryptoKey | undefined) ?? realm.privateKey)
    }
  })

  const refusal = async (token: Promise<string> | string) => {
    try {
      await verify(await token, ['shop'])
    } catch (err) {
      if (isFailure(err, 'logout_token_refused')) return err.message
      throw err
    }
    throw new Error('accepted')
  }

  test("a token as Keycloak signs it names the session, the user and the token; revoke_offline_access is Keycloak's event", async () => {
    expect(await verify(await sign({}), ['drivers', 'shop'])).toEqual({
      client: 'shop',
      sid: 'sid-1',
      sub: 'user-1',
      jti: 'jti-1',
      revokeOffline: false,
    })
    const revoking = await sign({ events: { [EVENT]: {}, revoke_offline_access: true } })
    expect((await verify(revoking, ['shop'])).revokeOffline).toBe(true)
    expect(await verify(await sign({ sid: undefined }), ['shop'])).toMatchObject({ sid: undefined, sub: 'user-1' })
    expect(await verify(await sign({}, { typ: undefined }), ['shop'])).toMatchObject({ sid: 'sid-1' })
  })

  test.each([
    ['another audience', () => sign({ aud: 'drivers' }), 'aud'],
    ['another issuer', () => sign({ iss: 'https://evil.example.com/realms/acme' }), 'iss'],
    ['expired', () => sign({ exp: Math.floor(Date.now() / 1000) - 60 }), 'exp'],
    ['issued long ago', () => sign({ iat: Math.floor(Date.now() / 1000) - 600 }), 'iat'],
    ['issued in the future', () => sign({ iat: Math.floor(Date.now() / 1000) + 600 }), 'iat'],
    ['with a nonce', () => sign({ nonce: 'n' }), 'nonce'],
    ['without the event', () => sign({ events: { other: {} } }), 'event'],
    ['with events that are no object', () => sign({ events: 'logout' }), 'event'],
    ['without sid or sub', () => sign({ sid: undefined, sub: undefined }), 'neither sid nor sub'],
    ['without jti', () => sign({ jti: undefined }), 'jti'],
    ['of another typ', () => sign({}, { typ: 'JWT' }), 'typ'],
    ['signed with another key', () => sign({}, { key: other }), 'signature'],
    ['signed with a kid the realm lacks', () => sign({}, { kid: 'k9', key: other }), 'key the realm does not have'],
    [
      'unsigned (alg none)',
      async () => {
        const part = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url')
        const now = Math.floor(Date.now() / 1000)
        return `${part({ alg: 'none', typ: 'logout+jwt' })}.${part({ iss: issuer.href, aud: 'shop', iat: now, exp: now + 60, jti: 'x', sid: 's', events: { [EVENT]: {} } })}.`
      },
      'not',
    ],
    ['not a JWT at all', async () => 'logout', 'not a signed JWT'],
  ])('refused: %s', async (_name, token, reason) => {
    expect(await refusal(token())).toContain(reason)
  })
})
