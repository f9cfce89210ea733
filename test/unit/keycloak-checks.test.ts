import { findings, refreshLifetime } from '../../src/setup/checks'
import type { CheckedApp } from '../../src/setup/findings'
import type { ClientState, RealmSettings, RealmState } from '../../src/setup/realm-state'

const settings: RealmSettings = {
  accessTokenLifespan: 300,
  ssoSessionIdleTimeout: 1800,
  ssoSessionMaxLifespan: 36000,
  clientSessionIdleTimeout: 0,
  clientSessionMaxLifespan: 0,
  revokeRefreshToken: true,
  refreshTokenMaxReuse: 0,
}

const app = (id: string, origin: string, targets: string[] = [], upstreamAudiences: string[] = []): CheckedApp => ({
  id,
  clientId: id,
  clientAuth: 'client_secret_basic',
  clientSecret: `${id}-secret`,
  clientKeys: [],
  authPath: '/auth',
  publicUrl: new URL(origin),
  callbackUrl: new URL('/auth/callback', origin),
  postLogoutPath: '/bye',
  handoffTargets: new Set(targets),
  upstreamAudiences,
  tokenExchange: 'standard',
  par: false,
  dpop: false,
  // Keycloak reaches keyward on an internal address, not the public origin.
  backchannelLogoutUrl: new URL(`https://keyward.internal/${id}/auth/backchannel-logout`),
})

const client = (clientId: string, more: Partial<ClientState> = {}): ClientState => ({
  id: `uuid-${clientId}`,
  clientId,
  enabled: true,
  publicClient: false,
  standardFlowEnabled: true,
  frontchannelLogout: false,
  serviceAccountsEnabled: false,
  redirectUris: [],
  attributes: {
    'pkce.code.challenge.method': 'S256',
    'post.logout.redirect.uris': '+',
    'backchannel.logout.url': `https://keyward.internal/${clientId}/auth/backchannel-logout`,
    'backchannel.logout.session.required': 'true',
  },
  audiences: [],
  serviceAccountRoles: [],
  secretMatches: true,
  clientAuthenticatorType: 'client-secret',
  ...more,
})

const realm = (clients: ClientState[], s: Partial<RealmSettings> = {}): RealmState => ({
  realm: 'acme',
  settings: { ...settings, ...s },
  clients: new Map(clients.map((c) => [c.clientId, c])),
  audienceClients: new Set(['orders-api']),
})
const problems = (apps: CheckedApp[], state: RealmState) =>
  findings(apps, state)
    .filter((f) => f.severity === 'problem')
    .map((f) => f.problem)

describe('what the doctor checks, on realms described as data', () => {
  test('redirect URIs as Keycloak matches them: exact, a trailing * as a prefix, relative to the root URL; + reuses them after logout', () => {
    const shop = app('shop', 'https://shop.example.com')
    for (const redirectUris of [
      ['https://shop.example.com/auth/callback'],
      ['https://shop.example.com/*'],
      ['/auth/*'],
    ]) {
      const state = realm([client('shop', { redirectUris, rootUrl: 'https://shop.example.com/' })])
      expect(problems([shop], state).filter((p) => p.includes('callback'))).toEqual([])
    }
    // "+" allows after logout what the redirect URIs allow: /bye only under the wildcard.
    const plus = (redirectUris: string[]) => problems([shop], realm([client('shop', { redirectUris })]))
    expect(plus(['https://shop.example.com/*'])).toEqual([])
    expect(plus(['https://shop.example.com/auth/callback'])).toEqual([
      'the post-logout redirect URIs do not allow https://shop.example.com/bye',
    ])
    const wrong = realm([
      client('shop', { redirectUris: ['https://shop.example.com/auth/callback/x', 'https://shop.example.org/*'] }),
    ])
    expect(problems([shop], wrong)).toEqual([
      "the redirect URIs do not allow keyward's callback https://shop.example.com/auth/callback",
      'the post-logout redirect URIs do not allow https://shop.example.com/bye',
    ])
  })

  test('a handoff needs the V2 switch, SAME_SESSION and refresh tokens on the target, and the target in the source audience', () => {
    const uris = { redirectUris: ['https://*'] }
    const apps = [app('shop', 'https://shop.example.com', ['drivers']), app('drivers', 'https://drivers.example.net')]
    const ready = realm([
      client('shop', { ...uris, audiences: ['drivers'] }),
      client('drivers', {
        ...uris,
        attributes: {
          ...client('drivers').attributes,
          'standard.token.exchange.enabled': 'true',
          'standard.token.exchange.enableRefreshRequestedTokenType': 'SAME_SESSION',
        },
      }),
    ])
    expect(findings(apps, ready)).toEqual([])
    const bare = realm([
      client('shop', uris),
      client('drivers', { ...uris, attributes: { ...client('drivers').attributes, 'use.refresh.tokens': 'false' } }),
    ])
    expect(findings(apps, bare).map((f) => [f.subject, f.change?.kind])).toEqual([
      ['handoff shop → drivers', 'set-attributes'],
      ['handoff shop → drivers', 'set-attributes'],
      ['handoff shop → drivers', 'set-attributes'],
      ['handoff shop → drivers', 'add-audience'],
    ])
  })

  test('refresh tokens live the least of the four session limits; a client attribute overrides the realm', () => {
    expect(refreshLifetime(settings, client('a'))).toBe(1800)
    expect(refreshLifetime({ ...settings, clientSessionIdleTimeout: 600 }, client('a'))).toBe(600)
    expect(refreshLifetime(settings, client('a', { attributes: { 'client.session.max.lifespan': '120' } }))).toBe(120)
    expect(refreshLifetime({ ...settings, ssoSessionMaxLifespan: 900 }, client('a'))).toBe(900)
    const shop = app('shop', 'https://shop.example.com')
    const short = realm([client('shop', { redirectUris: ['https://*'] })], { ssoSessionIdleTimeout: 300 })
    expect(problems([shop], short)).toEqual([expect.stringContaining('refresh tokens live 300 s')])
  })

  test('rotation off is advice, not a failure; a missing client is one problem that setup creates', () => {
    const shop = app('shop', 'https://shop.example.com')
    const found = findings([shop], realm([], { revokeRefreshToken: false }))
    expect(found.map((f) => [f.severity, f.change?.kind ?? null])).toEqual([
      ['problem', 'create-client'],
      ['advice', null],
    ])
  })

  test('back-channel logout: the URL keyward is reached at, the session named, front-channel logout off; setup sets each', () => {
    const shop = app('shop', 'https://shop.example.com')
    const url = shop.backchannelLogoutUrl.href
    const logoutProblems = (more: Partial<ClientState>, attributes: Record<string, string> = {}) => {
      const c = client('shop', { redirectUris: ['https://*'], ...more })
      c.attributes = { ...c.attributes, ...attributes }
      return findings([shop], realm([c])).filter((f) => f.severity === 'problem')
    }
    expect(logoutProblems({})).toEqual([])
    const unset = logoutProblems({}, { 'backchannel.logout.url': '' })
    expect(unset.map((f) => f.problem)).toEqual([
      'Keycloak sends no back-channel logout to keyward (the back-channel logout URL is not set): sessions ended in Keycloak would live on in keyward',
    ])
    expect(unset[0].change).toEqual({
      kind: 'set-attributes',
      clientId: 'shop',
      attributes: { 'backchannel.logout.url': url, 'backchannel.logout.session.required': 'true' },
    })
    expect(logoutProblems({}, { 'backchannel.logout.url': 'https://old.example.com/logout' })[0].problem).toContain(
      '"https://old.example.com/logout"',
    )
    expect(logoutProblems({}, { 'backchannel.logout.session.required': 'false' })[0].problem).toContain(
      'does not name the session',
    )
    const front = logoutProblems({ frontchannelLogout: true })
    expect(front.map((f) => f.change)).toEqual([
      { kind: 'set-client', clientId: 'shop', fields: { frontchannelLogout: false } },
    ])
  })

  test("a Client Session Idle above the realm's SSO Session Idle is a problem, unless keyward caps its sessions at the SSO idle", () => {
    const shop = app('shop', 'https://shop.example.com')
    const state = realm([
      client('shop', {
        redirectUris: ['https://*'],
        attributes: { ...client('shop').attributes, 'client.session.idle.timeout': '86400' },
      }),
    ])
    expect(problems([shop], state)).toEqual([
      expect.stringContaining("Client Session Idle (86400 s) is above the realm's SSO Session Idle (1800 s)"),
    ])
    expect(findings([shop], state)[0].fix).toBe(
      'lower Client Session Idle to at most 1800 s, or set SSO_SESSION_IDLE_SECONDS=1800',
    )
    expect(problems([shop], state).length).toBe(1)
    expect(findings([shop], state, { ssoSessionIdleSeconds: 1800 }).filter((f) => f.severity === 'problem')).toEqual([])
    expect(
      findings([shop], state, { ssoSessionIdleSeconds: 3600 }).filter((f) => f.severity === 'problem'),
    ).toHaveLength(1)
    expect(problems([shop], realm([client('shop', { redirectUris: ['https://*'] })]))).toEqual([])
  })

  test('an upstream with an audience of its own needs the V2 switch on the app and the audience in its tokens', () => {
    const shop = app('shop', 'https://shop.example.com', [], ['orders-api', 'ghost-api'])
    const found = findings([shop], realm([client('shop', { redirectUris: ['https://*'] })]))
    expect(found.map((f) => [f.problem.split(',')[0], f.change?.kind ?? null])).toEqual([
      ['Standard token exchange is off on shop', 'set-attributes'],
      [
        'orders-api is not in the audience of shop\'s access tokens ("Requested audience not available")',
        'add-audience',
      ],
      ['realm acme has no client ghost-api', null],
    ])
  })

  test("an app that takes handoffs from another deployment needs its client's service account; the remote app's own client is not checked here", () => {
    const uris = { redirectUris: ['https://*'] }
    const remoteShop = {
      ...app('shop', 'https://shop.example.com', ['drivers']),
      remote: { redeemUrl: new URL('https://shop.example.com') },
    }
    const drivers = app('drivers', 'https://drivers.example.net')
    const v2 = {
      ...client('drivers').attributes,
      'standard.token.exchange.enabled': 'true',
      'standard.token.exchange.enableRefreshRequestedTokenType': 'SAME_SESSION',
    }
    const state = realm([
      client('shop', { publicClient: true, audiences: ['drivers'] }),
      client('drivers', { ...uris, attributes: v2 }),
    ])
    expect(findings([remoteShop, drivers], state).map((f) => [f.subject, f.change])).toEqual([
      [
        'app drivers (client drivers)',
        { kind: 'set-client', clientId: 'drivers', fields: { serviceAccountsEnabled: true } },
      ],
    ])
  })
})

test('keyward with a secret, and a client that takes signed assertions: a problem setup does not change (a signing client is not weakened)', () => {
  const web = app('web', 'https://web.example.com')
  const signing = realm([
    client('web', { redirectUris: ['https://web.example.com/*'], clientAuthenticatorType: 'client-jwt' }),
  ])
  expect(findings([web], signing).map((f) => [f.severity, f.problem, f.change])).toEqual([
    [
      'problem',
      'the client authenticates with client-jwt, but keyward with a secret: Keycloak refuses every call',
      undefined,
    ],
  ])
})

describe('a client that authenticates with a key (private_key_jwt)', () => {
  const key = { kid: 'k2', alg: 'ES256' as const, privateJwk: {}, publicJwk: {} }
  const web: CheckedApp = {
    ...app('web', 'https://web.example.com'),
    clientAuth: 'private_key_jwt',
    clientSecret: '',
    clientKeys: [key],
  }
  const fetched = { 'use.jwks.url': 'true', 'jwks.url': 'https://web.example.com/auth/jwks' }
  const withKeys = (more: Partial<ClientState>, attributes: Record<string, string> = fetched) => {
    const c = client('web', { redirectUris: ['https://web.example.com/*'], ...more })
    return realm([{ ...c, attributes: { ...c.attributes, ...attributes } }])
  }

  test("Signed JWT, the JWKS URL keyward serves, and keyward's signing key among the keys Keycloak gets: nothing to say", () => {
    expect(findings([web], withKeys({ clientAuthenticatorType: 'client-jwt', jwksKids: ['k1', 'k2'] }))).toEqual([])
  })

  test('a client secret authenticator, or no JWKS URL: problems setup fixes; the secret is not compared', () => {
    const found = findings([web], withKeys({ secretMatches: false, jwksKids: ['k2'] }, {}))
    expect(found.map((f) => [f.problem, f.change])).toEqual([
      [
        'the client authenticates with client-secret, but keyward signs its calls with a key (private_key_jwt)',
        { kind: 'set-client', clientId: 'web', fields: { clientAuthenticatorType: 'client-jwt' } },
      ],
      [
        "Keycloak does not fetch keyward's keys from https://web.example.com/auth/jwks, so it cannot check keyward's calls",
        {
          kind: 'set-attributes',
          clientId: 'web',
          attributes: { 'use.jwks.url': 'true', 'jwks.url': 'https://web.example.com/auth/jwks' },
        },
      ],
    ])
  })

  test("keys Keycloak gets without keyward's signing key: a problem; keys the doctor cannot read: advice", () => {
    expect(problems([web], withKeys({ clientAuthenticatorType: 'client-jwt', jwksKids: ['k1'] }))).toEqual([
      "the keys Keycloak checks the client's calls with (k1) lack keyward's signing key k2",
    ])
    const unread = findings([web], withKeys({ clientAuthenticatorType: 'client-jwt' }))
    expect(unread.map((f) => [f.severity, f.fix])).toEqual([
      ['advice', 'start keyward, and let Keycloak reach https://web.example.com/auth/jwks'],
    ])
  })

  test('a missing client is created with Signed JWT and the JWKS URL, no secret', () => {
    expect(findings([web], realm([]))[0].change).toMatchObject({
      kind: 'create-client',
      clientId: 'web',
      jwksUrl: 'https://web.example.com/auth/jwks',
    })
  })
})

describe('pushed authorization requests (PAR)', () => {
  const web = app('web', 'https://web.example.com')
  const required = (on: boolean) => {
    const c = client('web', { redirectUris: ['https://web.example.com/*'] })
    return realm([
      { ...c, attributes: { ...c.attributes, ...(on ? { 'require.pushed.authorization.requests': 'true' } : {}) } },
    ])
  }

  test("a client that requires PAR, and keyward not pushing: a problem keyward's configuration fixes", () => {
    expect(findings([web], required(true)).map((f) => [f.severity, f.problem, f.fix, f.change])).toEqual([
      [
        'problem',
        'the client requires pushed authorization requests (PAR), and keyward does not push its logins: Keycloak refuses every login',
        'set OIDC_PAR=true (the middleware: keycloak.par; a KEYWARD_CONFIG app: "par": true)',
        undefined,
      ],
    ])
  })

  test('keyward pushing to a client that does not require it: advice, and setup requires it; both: nothing to say', () => {
    const pushing = { ...web, par: true }
    expect(findings([pushing], required(false)).map((f) => [f.severity, f.change])).toEqual([
      [
        'advice',
        { kind: 'set-attributes', clientId: 'web', attributes: { 'require.pushed.authorization.requests': 'true' } },
      ],
    ])
    expect(findings([pushing], required(true))).toEqual([])
    expect(findings([web], required(false))).toEqual([])
    expect(findings([pushing], realm([]))[0].change).toMatchObject({ kind: 'create-client', requirePar: true })
  })
})

describe('DPoP-bound tokens', () => {
  const web = app('web', 'https://web.example.com')
  const required = (on: boolean) => {
    const c = client('web', { redirectUris: ['https://web.example.com/*'] })
    return realm([{ ...c, attributes: { ...c.attributes, ...(on ? { 'dpop.bound.access.tokens': 'true' } : {}) } }])
  }

  test('a client that requires DPoP of a keyward without it: a problem; one keyward binds for that does not require it: advice', () => {
    expect(findings([web], required(true)).map((f) => [f.severity, f.problem, f.fix, f.change])).toEqual([
      [
        'problem',
        'the client requires DPoP-bound tokens, and keyward sends no DPoP proofs: Keycloak refuses every login and refresh',
        'set OIDC_DPOP=true (the middleware: keycloak.dpop; a KEYWARD_CONFIG app: "dpop": true)',
        undefined,
      ],
    ])
    const binding = { ...web, dpop: true }
    expect(findings([binding], required(false)).map((f) => [f.severity, f.change])).toEqual([
      ['advice', { kind: 'set-attributes', clientId: 'web', attributes: { 'dpop.bound.access.tokens': 'true' } }],
    ])
    expect(findings([binding], required(true))).toEqual([])
    expect(findings([web], required(false))).toEqual([])
    expect(findings([binding], realm([]))[0].change).toMatchObject({ kind: 'create-client', requireDpop: true })
  })
})

describe("the server's version", () => {
  const shop = app('shop', 'https://shop.example', ['drivers'])
  const drivers = app('drivers', 'https://drivers.example')
  const ok = realm([client('shop', { audiences: ['drivers'] }), client('drivers')])
  const at = (keycloakVersion?: string) =>
    findings([shop, drivers], { ...ok, keycloakVersion }).filter((f) => f.subject.startsWith('Keycloak'))

  test('unknown (the admin may not read it), or within what keyward is tested against: nothing to say', () => {
    expect(at(undefined)).toEqual([])
    for (const v of ['26.4.0', '26.5.6', '26.7.3', '26.7.9']) expect(at(v)).toEqual([])
  })

  test('older than tested: advice; older than Standard Token Exchange with a handoff configured: a problem', () => {
    expect(at('26.3.1')).toEqual([
      expect.objectContaining({ severity: 'advice', problem: 'keyward is tested against Keycloak 26.4.0 to 26.7.3' }),
    ])
    expect(at('26.1.5').map((f) => [f.severity, f.problem])).toEqual([
      [
        'problem',
        'Standard Token Exchange, used by shop (handoffs, upstream audiences), needs Keycloak 26.2.0 or newer',
      ],
      ['advice', 'keyward is tested against Keycloak 26.4.0 to 26.7.3'],
    ])
    // Without an exchange configured, an old server is only advice.
    const alone = findings([drivers], { ...ok, keycloakVersion: '26.1.5' }).filter((f) => f.severity === 'problem')
    expect(alone.filter((f) => f.subject.startsWith('Keycloak'))).toEqual([])
  })

  test('newer than tested: advice', () => {
    expect(at('26.8.0')).toEqual([expect.objectContaining({ severity: 'advice' })])
    expect(at('27.0.0-SNAPSHOT')).toEqual([expect.objectContaining({ severity: 'advice' })])
  })
})
