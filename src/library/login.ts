import type { AppConfig } from '../config/types'
import { loginParams, type LoginParamName } from '../http/login-params'
import { safeReturnTo } from '../http/return-to'
import type { LoginOptions } from './api'

const words = (list: readonly string[] | undefined) => list?.join(' ')

/** `options` by the names of `GET <authPath>/login`'s query. */
function asQuery(options: Omit<LoginOptions, 'returnTo' | 'offline'>): Record<LoginParamName, string | undefined> {
  return {
    prompt: options.prompt,
    login_hint: options.loginHint,
    kc_idp_hint: options.idpHint,
    ui_locales: words(options.uiLocales),
    acr_values: words(options.acrValues),
    max_age: options.maxAge === undefined ? undefined : String(options.maxAge),
    scope: words(options.scopes),
  }
}

/**
 * The URL of keyward's login route that asks for `options`, checked now by the same rules the route
 * applies (a `KeywardError` for what the app's `login` option does not allow). `returnTo` is where the
 * browser comes back to (default `/`).
 */
export function loginUrl(app: AppConfig, options: LoginOptions): string {
  const query = asQuery(options)
  loginParams((name) => query[name], app.login)
  const params = new URLSearchParams({ returnTo: safeReturnTo(options.returnTo, app.publicUrl) })
  if (options.offline) params.set('offline', '1')
  for (const [name, value] of Object.entries(query)) if (value !== undefined && value !== '') params.set(name, value)
  return `${app.authPath}/login?${params}`
}
