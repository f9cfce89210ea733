import { clientKeyFindings, jwksUrl } from './client-key-checks'
import { requirementFindings } from './requirement-checks'
import { versionFindings } from './version-checks'
import { handoffFindings, upstreamFindings } from './exchange-checks'
import type { CheckedApp, Finding } from './findings'
import {
  BACKCHANNEL_LOGOUT_SESSION,
  BACKCHANNEL_LOGOUT_URL,
  type Change,
  type ClientState,
  type RealmSettings,
  type RealmState,
} from './realm-state'

const POST_LOGOUT = 'post.logout.redirect.uris'

/** Keycloak's matching of a redirect URI: exact, or a pattern ending in `*` as a prefix (relative ones on the root URL). */
function allowed(uri: string, patterns: string[], rootUrl = ''): boolean {
  return patterns.some((raw) => {
    const pattern = raw.startsWith('/') ? rootUrl.replace(/\/$/, '') + raw : raw
    return pattern.endsWith('*') ? uri.startsWith(pattern.slice(0, -1)) : uri === pattern
  })
}

export const postLogoutUri = (app: CheckedApp): string => new URL(app.postLogoutPath, app.publicUrl).href

/** The post-logout patterns: the attribute, `##`-separated, where `+` means "the redirect URIs too". */
function postLogoutPatterns(c: ClientState): string[] {
  const listed = (c.attributes[POST_LOGOUT] ?? '').split('##').filter(Boolean)
  return listed.flatMap((p) => (p === '+' ? c.redirectUris : [p]))
}

function clientFindings(app: CheckedApp, c: ClientState): Finding[] {
  const subject = `app ${app.id} (client ${app.clientId})`
  const out: Finding[] = []
  const problem = (problem: string, fix: string, change?: Change) =>
    out.push({ severity: 'problem', subject, problem, fix, change })
  if (!c.enabled) problem('the client is disabled', 'turn the client on ("Enabled")')
  if (c.publicClient) {
    // Turned confidential, the client gets keyward's secret: it has none that anything else could be using.
    const withKey = app.clientAuth === 'private_key_jwt'
    problem(
      'the client is public: Keycloak gives a public client no credentials and refuses it token exchange',
      withKey
        ? 'turn on "Client authentication" with "Signed JWT" as its authenticator'
        : 'turn on "Client authentication" and give the client keyward\'s secret',
      {
        kind: 'set-client',
        clientId: app.clientId,
        fields: withKey
          ? { publicClient: false, clientAuthenticatorType: 'client-jwt' }
          : { publicClient: false, secret: app.clientSecret },
      },
    )
  } else if (app.clientAuth === 'private_key_jwt') {
    out.push(...clientKeyFindings(app, c))
  } else if (c.clientAuthenticatorType !== 'client-secret') {
    // Not changed by setup: a client made to sign (FAPI 2.0's policies, say) is not to be weakened here.
    problem(
      `the client authenticates with ${c.clientAuthenticatorType}, but keyward with a secret: Keycloak refuses every call`,
      'give keyward a key (OIDC_CLIENT_AUTH=private_key_jwt, OIDC_CLIENT_KEY_FILE), or set "Client Authenticator" to "Client Id and Secret"',
    )
  } else if (c.secretMatches === false) {
    problem(
      "the client's secret is not the one keyward is configured with",
      "copy the secret from the client's Credentials tab into keyward's configuration",
    )
  }
  if (!c.standardFlowEnabled) {
    problem('the authorization code flow ("Standard flow") is off', 'turn on "Standard flow"', {
      kind: 'set-client',
      clientId: app.clientId,
      fields: { standardFlowEnabled: true },
    })
  }
  if (c.attributes['pkce.code.challenge.method'] !== 'S256') {
    problem('PKCE is not required', 'set "Proof Key for Code Exchange Code Challenge Method" to S256', {
      kind: 'set-attributes',
      clientId: app.clientId,
      attributes: { 'pkce.code.challenge.method': 'S256' },
    })
  }
  out.push(...requirementFindings(app, c))
  if (!allowed(app.callbackUrl.href, c.redirectUris, c.rootUrl)) {
    problem(
      `the redirect URIs do not allow keyward's callback ${app.callbackUrl.href}`,
      `add ${app.callbackUrl.href} to "Valid redirect URIs"`,
      {
        kind: 'add-redirect-uri',
        clientId: app.clientId,
        uri: app.callbackUrl.href,
      },
    )
  }
  const afterLogout = postLogoutUri(app)
  if (!allowed(afterLogout, postLogoutPatterns(c), c.rootUrl)) {
    const value = [...(c.attributes[POST_LOGOUT] ?? '').split('##').filter(Boolean), afterLogout].join('##')
    problem(
      `the post-logout redirect URIs do not allow ${afterLogout}`,
      `add ${afterLogout} to "Valid post logout redirect URIs"`,
      {
        kind: 'set-attributes',
        clientId: app.clientId,
        attributes: { [POST_LOGOUT]: value },
      },
    )
  }
  out.push(...logoutFindings(app, c))
  if (c.serviceAccountRoles.length > 0) {
    problem(
      `its service account holds realm-management roles keyward never needs: ${c.serviceAccountRoles.join(', ')}` +
        ' (token exchange, standard or legacy, needs none; impersonation and manage-users hand out every user)',
      `remove ${c.serviceAccountRoles.join(', ')} from service-account-${app.clientId} ("Service accounts roles" tab)`,
    )
  }
  return out
}

/** Keycloak tells keyward of every ended user session through the back channel, naming the session. */
function logoutFindings(app: CheckedApp, c: ClientState): Finding[] {
  const subject = `app ${app.id} (client ${app.clientId})`
  const url = app.backchannelLogoutUrl.href
  const out: Finding[] = []
  if (c.frontchannelLogout) {
    out.push({
      severity: 'problem',
      subject,
      problem:
        'front-channel logout is on, so Keycloak sends logouts through the browser and keyward never hears of them',
      fix: 'turn "Front channel logout" off',
      change: { kind: 'set-client', clientId: app.clientId, fields: { frontchannelLogout: false } },
    })
  }
  const current = c.attributes[BACKCHANNEL_LOGOUT_URL]
  if (current !== url || c.attributes[BACKCHANNEL_LOGOUT_SESSION] === 'false') {
    out.push({
      severity: 'problem',
      subject,
      problem:
        current === url
          ? 'back-channel logout does not name the session ("Backchannel logout session required" is off), so one logout would end every session of the user'
          : `Keycloak sends no back-channel logout to keyward (the back-channel logout URL is ${current ? JSON.stringify(current) : 'not set'}): sessions ended in Keycloak would live on in keyward`,
      fix: `set "Backchannel logout URL" to ${url} and turn on "Backchannel logout session required"`,
      change: {
        kind: 'set-attributes',
        clientId: app.clientId,
        attributes: { [BACKCHANNEL_LOGOUT_URL]: url, [BACKCHANNEL_LOGOUT_SESSION]: 'true' },
      },
    })
  }
  return out
}

const positive = (...values: (number | string | undefined)[]): number[] =>
  values.map(Number).filter((v) => Number.isFinite(v) && v > 0)

/** How long refresh tokens live for a client: the least of the four session limits (seconds). */
export function refreshLifetime(s: RealmSettings, c: ClientState): number {
  const clientIdle = positive(c.attributes['client.session.idle.timeout'], s.clientSessionIdleTimeout)[0] ?? Infinity
  const clientMax = positive(c.attributes['client.session.max.lifespan'], s.clientSessionMaxLifespan)[0] ?? Infinity
  return Math.min(...positive(s.ssoSessionIdleTimeout, s.ssoSessionMaxLifespan), clientIdle, clientMax)
}

/** What keyward is configured with that the realm's settings bear on. */
export interface KeywardLimits {
  /** SSO_SESSION_IDLE_SECONDS */
  ssoSessionIdleSeconds?: number
}

function lifetimeFindings(app: CheckedApp, s: RealmSettings, c: ClientState, keyward: KeywardLimits): Finding[] {
  const subject = `app ${app.id} (client ${app.clientId})`
  const out: Finding[] = []
  // Keycloak then answers refresh_expires_in from the SSO max, yet ends the session at the SSO idle.
  const clientIdle = positive(c.attributes['client.session.idle.timeout'], s.clientSessionIdleTimeout)[0]
  const ssoIdle = s.ssoSessionIdleTimeout
  const capped = keyward.ssoSessionIdleSeconds !== undefined && keyward.ssoSessionIdleSeconds <= ssoIdle
  if (clientIdle !== undefined && ssoIdle > 0 && clientIdle > ssoIdle && !capped) {
    out.push({
      severity: 'problem',
      subject,
      problem:
        `Client Session Idle (${clientIdle} s) is above the realm's SSO Session Idle (${ssoIdle} s): Keycloak then ` +
        `reports refresh tokens that outlive the session (refresh_expires_in), and ends it after ${ssoIdle} s unused, ` +
        'so keyward would show sessions as alive that Keycloak has ended',
      fix: `lower Client Session Idle to at most ${ssoIdle} s, or set SSO_SESSION_IDLE_SECONDS=${ssoIdle}`,
    })
  }
  const access = positive(c.attributes['access.token.lifespan'], s.accessTokenLifespan)[0] ?? 300
  const refresh = refreshLifetime(s, c)
  if (refresh > access) return out
  return [
    ...out,
    {
      severity: 'problem',
      subject: `app ${app.id} (client ${app.clientId})`,
      problem:
        `refresh tokens live ${refresh} s (the least of SSO Session Idle and Max, Client Session Idle and Max) and ` +
        `access tokens ${access} s: a refresh token outlives no access token, so keyward could never refresh`,
      fix: `make the access token lifespan shorter than ${refresh} s, or raise the session limits`,
    },
  ]
}

/** Everything the doctor finds, in the order it prints it. */
export function findings(apps: CheckedApp[], state: RealmState, keyward: KeywardLimits = {}): Finding[] {
  const out: Finding[] = []
  for (const app of apps) {
    const c = state.clients.get(app.clientId)
    // Another deployment's app is that deployment's doctor's business, but for the handoffs below.
    if (app.remote) continue
    if (!c) {
      out.push({
        severity: 'problem',
        subject: `app ${app.id} (client ${app.clientId})`,
        problem: `realm ${state.realm} has no client ${app.clientId}`,
        fix:
          `create ${app.clientId}: confidential, standard flow only, PKCE S256, redirect URI ${app.callbackUrl.href}, ` +
          (app.clientAuth === 'private_key_jwt'
            ? `"Signed JWT" with JWKS URL ${jwksUrl(app)}`
            : "keyward's client secret"),
        change: {
          kind: 'create-client',
          clientId: app.clientId,
          secret: app.clientSecret,
          ...(app.clientAuth === 'private_key_jwt' ? { jwksUrl: jwksUrl(app) } : {}),
          ...(app.par ? { requirePar: true } : {}),
          ...(app.dpop ? { requireDpop: true } : {}),
          redirectUri: app.callbackUrl.href,
          postLogoutUri: postLogoutUri(app),
          backchannelLogoutUrl: app.backchannelLogoutUrl.href,
        },
      })
      continue
    }
    out.push(
      ...clientFindings(app, c),
      ...lifetimeFindings(app, state.settings, c, keyward),
      ...upstreamFindings(app, c, state),
    )
    const fromElsewhere = apps.some((a) => a.remote && a.handoffTargets.has(app.id))
    if (fromElsewhere && !c.serviceAccountsEnabled) {
      out.push({
        severity: 'problem',
        subject: `app ${app.id} (client ${app.clientId})`,
        problem: 'it takes handoffs from another deployment, which it must ask with a token of its own client',
        fix: `turn on "Service accounts roles" on ${app.clientId} (no role needed: the client credentials grant only)`,
        change: { kind: 'set-client', clientId: app.clientId, fields: { serviceAccountsEnabled: true } },
      })
    }
  }
  out.push(...versionFindings(apps, state))
  for (const from of apps) {
    for (const target of from.handoffTargets) {
      const to = apps.find((a) => a.id === target)
      const fromClient = state.clients.get(from.clientId)
      const toClient = to && state.clients.get(to.clientId)
      if (to && fromClient && toClient) out.push(...handoffFindings(from, fromClient, to, toClient, state))
    }
  }
  if (!state.settings.revokeRefreshToken) {
    out.push({
      severity: 'advice',
      subject: `realm ${state.realm}`,
      problem:
        'refresh tokens are not rotated ("Revoke Refresh Token" is off): a stolen one keeps working until it expires',
      fix:
        'turn on "Revoke Refresh Token" with "Refresh Token Max Reuse" 0 (keyward refreshes each session once at a ' +
        'time, so rotation never logs anyone out; 1 also survives an instance dying mid-refresh)',
    })
  }
  return out
}
