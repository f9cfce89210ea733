import { httpsRule, isLocalHttp, list } from './checks'
import type { Env } from './schema'
import type { AppConfig } from './types'

/**
 * The apps keyward serves, each with its own origin, Keycloak client and cookie. Today one, from the
 * app variables of the environment; problems are added to `problems`, naming the variable.
 */
export function appsFromEnv(e: Env, problems: string[]): AppConfig[] {
  const publicOk = e.PUBLIC_URL.protocol === 'https:' || isLocalHttp(e.PUBLIC_URL) || e.DEV_ALLOW_HTTP
  const publicRule = 'must be https unless it is http://localhost or http://127.0.0.1'
  problems.push(...httpsRule('PUBLIC_URL', e.PUBLIC_URL.origin, publicOk, publicRule))
  const extraOrigins = list(e.ALLOWED_ORIGINS)
  for (const o of extraOrigins) {
    if (!URL.canParse(o) || new URL(o).origin !== o) {
      problems.push(
        `ALLOWED_ORIGINS: comma-separated origins such as https://app.example.com (got ${JSON.stringify(o)})`,
      )
    } else {
      // These origins read answers with the user's cookie: a page served over plain http must not.
      const ok = new URL(o).protocol === 'https:' || isLocalHttp(new URL(o)) || e.DEV_ALLOW_HTTP
      problems.push(
        ...httpsRule('ALLOWED_ORIGINS', o, ok, 'must be https unless on localhost or with DEV_ALLOW_HTTP=true'),
      )
    }
  }
  const mobileRedirectUris = list(e.MOBILE_REDIRECT_URIS)
  for (const u of mobileRedirectUris) {
    const url = URL.canParse(u) ? new URL(u) : undefined
    const unsafe = !url || url.hash || ['javascript:', 'data:', 'file:'].includes(url.protocol)
    if (unsafe || (url.protocol === 'http:' && !isLocalHttp(url))) {
      problems.push(
        'MOBILE_REDIRECT_URIS: comma-separated app URIs such as com.example.app:/auth or ' +
          `https://app.example.com/mobile (got ${JSON.stringify(u)})`,
      )
    }
  }
  const secure = e.PUBLIC_URL.protocol === 'https:'
  return [
    {
      id: e.APP_ID,
      publicUrl: e.PUBLIC_URL,
      callbackUrl: new URL('/auth/callback', e.PUBLIC_URL),
      allowedOrigins: new Set([e.PUBLIC_URL.origin, ...extraOrigins]),
      clientId: e.OIDC_CLIENT_ID,
      clientSecret: e.OIDC_CLIENT_SECRET,
      scopes: e.OIDC_SCOPES,
      postLogoutPath: e.POST_LOGOUT_PATH,
      cookie: { name: secure ? `__Host-${e.COOKIE_NAME}` : e.COOKIE_NAME, secure, sameSite: e.COOKIE_SAMESITE },
      mobileRedirectUris: new Set(mobileRedirectUris),
    },
  ]
}
