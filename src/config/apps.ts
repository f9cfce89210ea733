import { redirectTarget } from '../domain/redirect-target'
import { isLocalHttp, list } from './checks'
import type { AppEnv } from './schema'
import type { AppConfig } from './types'

/** One app's settings as read, before the rules below turn them into an `AppConfig`. */
export interface AppSpec {
  id: string
  publicUrl: URL
  clientId: string
  clientSecret: string
  nextClientSecret?: string
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
}

/** How problems name a field: `PUBLIC_URL` in the environment, `apps[1].publicUrl` in a file. */
export type FieldName = (field: keyof AppSpec) => string

interface Rules {
  devAllowHttp: boolean
  /** The names of the configured upstreams. */
  upstreams: string[]
}

/** The rules for one app; each broken one is added to `problems`, naming the field. */
export function appFrom(spec: AppSpec, rules: Rules, name: FieldName, problems: string[]): AppConfig {
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
        `${name('allowedOrigins')}: must be https unless on localhost or with DEV_ALLOW_HTTP=true (got ${JSON.stringify(o)})`,
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
        `${name('upstreams')}: ${JSON.stringify(u)} is not one of UPSTREAMS (${rules.upstreams.join(', ')})`,
      )
    }
  }
  const secure = publicUrl.protocol === 'https:'
  return {
    id: spec.id,
    publicUrl,
    callbackUrl: new URL('/auth/callback', publicUrl),
    allowedOrigins: new Set([publicUrl.origin, ...spec.allowedOrigins]),
    clientId: spec.clientId,
    clientSecret: spec.clientSecret,
    ...(spec.nextClientSecret ? { nextClientSecret: spec.nextClientSecret } : {}),
    scopes: spec.scopes,
    postLogoutPath: spec.postLogoutPath,
    cookie: { name: secure ? `__Host-${spec.cookieName}` : spec.cookieName, secure, sameSite: spec.cookieSameSite },
    mobileRedirectUris: new Set(spec.mobileRedirectUris),
    handoffTargets: new Set(spec.handoffTargets),
    upstreams: new Set(spec.upstreams ?? rules.upstreams),
    backchannelLogoutUrl: spec.backchannelLogoutUrl ?? new URL('/auth/backchannel-logout', publicUrl),
    tokenExchange: 'standard',
  }
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

/** The single app of a configuration without a file: from the app variables of the environment. */
export function appFromEnv(e: AppEnv, rules: Rules, problems: string[]): AppConfig {
  const names: Partial<Record<keyof AppSpec, string>> = {
    publicUrl: 'PUBLIC_URL',
    backchannelLogoutUrl: 'BACKCHANNEL_LOGOUT_URL',
    postLogoutPath: 'POST_LOGOUT_PATH',
    allowedOrigins: 'ALLOWED_ORIGINS',
    mobileRedirectUris: 'MOBILE_REDIRECT_URIS',
  }
  const spec: AppSpec = {
    id: e.APP_ID,
    publicUrl: e.PUBLIC_URL,
    clientId: e.OIDC_CLIENT_ID,
    clientSecret: e.OIDC_CLIENT_SECRET,
    nextClientSecret: e.OIDC_CLIENT_SECRET_NEXT,
    scopes: e.OIDC_SCOPES,
    allowedOrigins: list(e.ALLOWED_ORIGINS),
    mobileRedirectUris: list(e.MOBILE_REDIRECT_URIS),
    postLogoutPath: e.POST_LOGOUT_PATH,
    cookieName: e.COOKIE_NAME,
    cookieSameSite: e.COOKIE_SAMESITE,
    handoffTargets: [],
    backchannelLogoutUrl: e.BACKCHANNEL_LOGOUT_URL,
  }
  return appFrom(spec, rules, (field) => names[field] ?? field, problems)
}
