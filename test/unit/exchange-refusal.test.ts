import { exchangeRefusal } from '../../src/oidc/exchange-refusal'

const clients = { clientId: 'keyward-sibling', subjectClientId: 'keyward-web' }
const refused = (error: string, description: string | undefined, status = 400) =>
  exchangeRefusal({ error, description, status }, clients)

describe("Keycloak's refusals of a token exchange, with the change that fixes each", () => {
  test.each([
    [
      'invalid_request',
      'Standard token exchange is not enabled for the requested client',
      /"Standard token exchange" \(standard\.token\.exchange\.enabled\) on client keyward-sibling/,
    ],
    [
      'invalid_request',
      'requested_token_type unsupported',
      /enableRefreshRequestedTokenType=SAME_SESSION\) on client keyward-sibling/,
    ],
    [
      'access_denied',
      'Client is not within the token audience',
      /give client keyward-web an Audience mapper that puts keyward-sibling in its access tokens' aud/,
    ],
    [
      'access_denied',
      'Client not allowed to exchange',
      /\(legacy token exchange\) give client keyward-sibling the token-exchange permission/,
    ],
    ['invalid_client', 'Public client is not allowed to exchange token', /make client keyward-sibling confidential/],
  ])('%s: %s', (error, description, fix) => {
    const out = refused(error, description)
    expect(out.sessionEnded).toBe(false)
    expect(out.message).toContain(
      `Keycloak refused the token exchange as keyward-sibling (${error}: ${description}); to fix: `,
    )
    expect(out.message).toMatch(fix)
  })

  test('a subject token Keycloak no longer honours means the session has ended', () => {
    expect(refused('invalid_request', 'Invalid token')).toMatchObject({ sessionEnded: true })
  })

  test('an unknown refusal is passed on in Keycloak words, without a made-up fix', () => {
    expect(refused('invalid_scope', 'Invalid scopes: nope')).toEqual({
      sessionEnded: false,
      message: 'Keycloak refused the token exchange as keyward-sibling (invalid_scope: Invalid scopes: nope).',
    })
    expect(refused('unsupported_grant_type', undefined).message).toMatch(
      /token exchange is not enabled on this Keycloak/,
    )
  })
})
