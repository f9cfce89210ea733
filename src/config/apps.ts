import { redirectTarget } from './redirect-target'
import { isLocalHttp } from './checks'
import type { Naming } from './names'
import { loginRules, type OneAppOptions } from './schema'
import { readClientKey } from './client-keys'
import type { AppConfig, ClientKey, LoginParamRules } from './types'

/** One app's settings as read, before the rules below turn them into an `AppConfig`. */
export interface AppSpec {
  id: string
  publicUrl: URL
  clientId: string
  clientAuth: AppConfig['clientAuth']
  clientSecret: string
  nextClientSecret?: string
  /** private_key_jwt: the signing key's file, and the other key's during a rotation. */
  clientKeyFile?: string
  nextClientKeyFile?: string
  /** Logins go through Keycloak's pushed authorization request endpoint (RFC 9126). */
  par: boolean
  /** Tokens bound to a key of each session (DPoP, RFC 9449). */
  dpop: boolean
  scopes: string
  allowedOrigins: string[]
  mobileRedirectUris: string[]
  postLogoutPath: string
  cookieName: string
  cookieSameSite: 'lax' | 'strict'
  handoffTargets: string[]
  /** The upstreams (names) this app may call; all of them when not said. */
  upstreams?: string[]
  /** Where Keycloak reaches this app for back-channel logout, when not on `publicUrl`. */
  backchannelLogoutUrl?: URL
  /** The path keyward's routes are under on `publicUrl`: `/auth`, unless the middleware is mounted elsewhere. */
  authPath?: string
  /** What a login may ask Keycloak for; nothing when not said. */
  login?: LoginOptions
}

/** The login rules as the options say them (lists), before they become `LoginParamRules` (sets). */
type LoginOptions = OneAppOptions['login']

/** An app whose settings do not say: the schema's defaults, nothing allowed. */
const NO_LOGIN_PARAMS: LoginOptions = loginRules.parse({})

const loginParamRules = (o: LoginOptions): LoginParamRules => ({
  prompts: new Set(o.prompts),
  loginHint: o.loginHint,
  idpHints: new Set(o.idpHints),
  uiLocales: new Set(o.uiLocales),
  acrValues: new Set(o.acrValues),
  maxAge: o.maxAge,
  scopes: new Set(o.scopes),
})

/** How problems name a field: `PUBLIC_URL` in the environment, `apps[1].publicUrl` in a file. */
export type FieldName = (field: keyof AppSpec) => string

export interface AppRules {
  devAllowHttp: boolean
  /** The names of the configured upstreams. */
  upstreams: string[]
  /** How a problem names an option that is not the app's (`DEV_ALLOW_HTTP` or `devAllowHttp`). */
  naming: Naming
}

/** The rules for one app; each broken one is added to `problems`, naming the field. */
export function appFrom(spec: AppSpec, rules: AppRules, name: FieldName, problems: string[]): AppConfig {
  const { publicUrl } = spec
  if (!(publicUrl.protocol === 'https:' || isLocalHttp(publicUrl) || rules.devAllowHttp)) {
    problems.push(
      `${name('publicUrl')}: must be https unless it is http://localhost (or a name under it) or http://127.0.0.1 ` +
        `(got ${JSON.stringify(publicUrl.origin)})`,
    )
  }
  for (const o of spec.allowedOrigins) {
    if (!URL.canParse(o) || new URL(o).origin !== o) {
      problems.push(`${name('allowedOrigins')}: origins such as https://app.example.com (got ${JSON.stringify(o)})`)
    } else if (!(new URL(o).protocol === 'https:' || isLocalHttp(new URL(o)) || rules.devAllowHttp)) {
      // These origins read answers with the user's cookie: a page served over plain http must not.
      problems.push(
        `${name('allowedOrigins')}: must be https unless on localhost or with ${rules.naming('devAllowHttp')}=true (got ${JSON.stringify(o)})`,
      )
    }
  }
  for (const u of spec.mobileRedirectUris) {
    const url = URL.canParse(u) ? new URL(u) : undefined
    const unsafe = !url || url.hash || ['javascript:', 'data:', 'file:'].includes(url.protocol)
    if (unsafe || (url.protocol === 'http:' && !isLocalHttp(url))) {
      problems.push(
        `${name('mobileRedirectUris')}: app URIs such as com.example.app:/auth or ` +
          `https://app.example.com/mobile (got ${JSON.stringify(u)})`,
      )
    }
  }
  // Where Keycloak sends the browser after logout: a path, by the rule a client's returnTo follows.
  if ('refused' in redirectTarget(spec.postLogoutPath, publicUrl, false)) {
    problems.push(
      `${name('postLogoutPath')}: a path on the app's own origin, e.g. /goodbye (got ${JSON.stringify(spec.postLogoutPath)})`,
    )
  }
  for (const u of spec.upstreams ?? []) {
    if (!rules.upstreams.includes(u)) {
      problems.push(
        `${name('upstreams')}: ${JSON.stringify(u)} is not one of ${rules.naming('upstreams')} (${rules.upstreams.join(', ')})`,
      )
    }
  }
  const secure = publicUrl.protocol === 'https:'
  const authPath = spec.authPath ?? '/auth'
  const clientKeys = clientKeysOf(spec, name, problems)
  return {
    id: spec.id,
    publicUrl,
    authPath,
    callbackUrl: new URL(`${authPath}/callback`, publicUrl),
    allowedOrigins: new Set([publicUrl.origin, ...spec.allowedOrigins]),
    clientId: spec.clientId,
    clientAuth: spec.clientAuth,
    clientSecret: spec.clientSecret,
    clientKeys,
    par: spec.par,
    dpop: spec.dpop,
    ...(spec.nextClientSecret ? { nextClientSecret: spec.nextClientSecret } : {}),
    scopes: spec.scopes,
    postLogoutPath: spec.postLogoutPath,
    cookie: { name: secure ? `__Host-${spec.cookieName}` : spec.cookieName, secure, sameSite: spec.cookieSameSite },
    mobileRedirectUris: new Set(spec.mobileRedirectUris),
    handoffTargets: new Set(spec.handoffTargets),
    upstreams: new Set(spec.upstreams ?? rules.upstreams),
    backchannelLogoutUrl: spec.backchannelLogoutUrl ?? new URL(`${authPath}/backchannel-logout`, publicUrl),
    tokenExchange: 'standard',
    login: loginParamRules(spec.login ?? NO_LOGIN_PARAMS),
  }
}

/** The keys of a private_key_jwt client, read from their files; none for a client with a secret. */
function clientKeysOf(spec: AppSpec, name: (field: keyof AppSpec) => string, problems: string[]): ClientKey[] {
  if (spec.clientAuth !== 'private_key_jwt') {
    for (const field of ['clientKeyFile', 'nextClientKeyFile'] as const) {
      if (spec[field])
        problems.push(`${name(field)}: a key signs assertions only with ${name('clientAuth')}=private_key_jwt`)
    }
    return []
  }
  if (!spec.clientKeyFile) {
    problems.push(
      `${name('clientKeyFile')}: the file of the key keyward signs its client assertions with (private_key_jwt), e.g. /run/secrets/keyward-client.pem`,
    )
    return []
  }
  const keys: ClientKey[] = []
  for (const field of ['clientKeyFile', 'nextClientKeyFile'] as const) {
    const path = spec[field]
    if (!path) continue
    const key = readClientKey(path)
    if (typeof key === 'string') problems.push(`${name(field)}: ${key}`)
    else if (keys.some((k) => k.kid === key.kid))
      problems.push(`${name(field)}: the same key (kid ${key.kid}) as ${name('clientKeyFile')}`)
    else keys.push(key)
  }
  return keys
}

/** Rules between apps: one id and one host each, and handoffs only to another configured app. */
export function appSetProblems(apps: AppConfig[], name: (index: number, field: keyof AppSpec) => string): string[] {
  const problems: string[] = []
  apps.forEach((app, i) => {
    const first = apps.findIndex((a) => a.id === app.id)
    if (first !== i) problems.push(`${name(i, 'id')}: ${JSON.stringify(app.id)} is already the id of apps[${first}]`)
    const sameHost = apps.findIndex((a) => a.publicUrl.host === app.publicUrl.host)
    if (sameHost !== i) {
      problems.push(
        `${name(i, 'publicUrl')}: ${app.publicUrl.host} already serves apps[${sameHost}]; the Host picks the app, so each needs its own`,
      )
    }
    for (const target of app.handoffTargets) {
      if (target === app.id || !apps.some((a) => a.id === target)) {
        problems.push(`${name(i, 'handoffTargets')}: ${JSON.stringify(target)} is not the id of another app`)
      }
    }
  })
  return problems
}

/** Where each of an app's fields is among the options of one app (the middleware's, the server's without a file). */
const OPTION_OF: Record<keyof AppSpec, string> = {
  id: 'appId',
  publicUrl: 'publicUrl',
  clientId: 'keycloak.clientId',
  clientAuth: 'keycloak.clientAuth',
  clientSecret: 'keycloak.clientSecret',
  nextClientSecret: 'keycloak.nextClientSecret',
  clientKeyFile: 'keycloak.clientKeyFile',
  nextClientKeyFile: 'keycloak.nextClientKeyFile',
  par: 'keycloak.par',
  dpop: 'keycloak.dpop',
  scopes: 'keycloak.scopes',
  allowedOrigins: 'allowedOrigins',
  mobileRedirectUris: 'mobileRedirectUris',
  postLogoutPath: 'postLogoutPath',
  cookieName: 'cookie.name',
  cookieSameSite: 'cookie.sameSite',
  handoffTargets: 'siblings',
  upstreams: 'upstreams',
  backchannelLogoutUrl: 'backchannelLogoutUrl',
  authPath: 'routes.prefix',
  login: 'login',
}

/** The one app of the middleware, or of the server without a KEYWARD_CONFIG file. */
export function appFromOptions(o: OneAppOptions, rules: AppRules, problems: string[]): AppConfig {
  const spec: AppSpec = {
    id: o.appId,
    publicUrl: o.publicUrl,
    clientId: o.keycloak.clientId,
    clientAuth: o.keycloak.clientAuth,
    clientSecret: o.keycloak.clientSecret ?? '',
    nextClientSecret: o.keycloak.nextClientSecret,
    clientKeyFile: o.keycloak.clientKeyFile,
    nextClientKeyFile: o.keycloak.nextClientKeyFile,
    par: o.keycloak.par,
    dpop: o.keycloak.dpop,
    scopes: o.keycloak.scopes,
    allowedOrigins: o.allowedOrigins,
    mobileRedirectUris: o.mobileRedirectUris,
    postLogoutPath: o.postLogoutPath,
    cookieName: o.cookie.name,
    cookieSameSite: o.cookie.sameSite,
    handoffTargets: [],
    backchannelLogoutUrl: o.backchannelLogoutUrl,
    authPath: o.routes.prefix,
    login: o.login,
  }
  return appFrom(spec, rules, (field) => rules.naming(OPTION_OF[field]), problems)
}

/**
 * The apps other keywards serve that the middleware's app hands sessions to or takes them from
 * (`siblings`), each checked by the rules of any app; `app` gets those it may hand sessions to. A
 * sibling may hand its sessions to `app`: listing it is trusting it as a source (its own keyward
 * decides where its sessions may go).
 */
export function withSiblings(app: AppConfig, o: OneAppOptions, rules: AppRules, problems: string[]): AppConfig[] {
  const siblings = o.siblings.map((s, i) => ({
    ...appFrom(
      { ...NO_APP_SETTINGS, id: s.id, publicUrl: s.publicUrl, clientId: s.clientId, authPath: s.authPath },
      rules,
      (field) => rules.naming(`siblings.${i}.${field}`),
      problems,
    ),
    handoffTargets: new Set(s.id === app.id ? [] : [app.id]), // (the same id is a problem of its own, below)
    remote: { redeemUrl: s.redeemUrl ?? s.publicUrl },
  }))
  const own = { ...app, handoffTargets: new Set(o.siblings.filter((s) => s.handoff).map((s) => s.id)) }
  const apps = [own, ...siblings]
  const at = (i: number, field: keyof AppSpec) =>
    i === 0 ? rules.naming(OPTION_OF[field]) : rules.naming(`siblings.${i - 1}.${field}`)
  problems.push(...appSetProblems(apps, at))
  return apps
}

/** What an app another keyward serves needs of the settings only the serving keyward uses. */
const NO_APP_SETTINGS: Omit<AppSpec, 'id' | 'publicUrl' | 'clientId'> = {
  clientAuth: 'client_secret_basic',
  clientSecret: '',
  par: false,
  dpop: false,
  scopes: 'openid',
  allowedOrigins: [],
  mobileRedirectUris: [],
  postLogoutPath: '/',
  cookieName: 'keyward',
  cookieSameSite: 'lax',
  handoffTargets: [],
}
