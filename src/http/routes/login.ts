import { parseCookie } from 'cookie'
import type { Request, RequestHandler } from 'express'
import type { AppConfig } from '../../config/types'
import type { MobileLoginRequest } from '../../domain/login'
import { OPAQUE, randomOpaque } from '../../domain/opaque'
import { startLogin, type LoginDeps } from '../../sessions/login'
import { loginBindingName, setLoginBinding } from '../browser-cookie'
import { appState, pkceChallenge } from '../mobile-proof'
import { loginParams } from '../login-params'
import { KeywardError } from '../problem'
import { safeReturnTo } from '../return-to'

export interface LoginRouteDeps {
  app: AppConfig
  login: Pick<LoginDeps, 'loginTransactions' | 'oidcFor' | 'now'>
  loginTxTtlSeconds: number
  /** Throws 429 when this client address starts logins faster than LOGIN_RATE_LIMIT. */
  admitLogin: (req: Request) => Promise<void>
}

const param = (req: Request, name: string): string | undefined => {
  const v = req.query[name]
  if (v === undefined) return undefined
  if (typeof v !== 'string') throw new KeywardError('invalid_request', `${name} may be given once.`)
  return v
}

/** A mobile login's parameters, each checked: the app gets its code only where it is allowed to. */
function mobileLogin(req: Request, app: AppConfig): MobileLoginRequest {
  const redirectUri = param(req, 'redirect_uri')
  if (!redirectUri || !app.mobileRedirectUris.has(redirectUri)) {
    throw new KeywardError(
      'invalid_request',
      'redirect_uri must be one of the app redirect URIs keyward is configured with.',
    )
  }
  const codeChallenge = pkceChallenge(
    param(req, 'code_challenge'),
    param(req, 'code_challenge_method'),
    'A mobile login needs code_challenge (S256 of the verifier, base64url) and code_challenge_method=S256.',
  )
  return { redirectUri, codeChallenge, state: appState(param(req, 'state')) }
}

/**
 * GET /auth/login — starts authorization code + PKCE at Keycloak.
 * - browser: `?returnTo=/path[&offline=1]`
 * - mobile: `?client=mobile&redirect_uri=…&code_challenge=…&code_challenge_method=S256[&state=…][&offline=1]`
 * `offline=1` asks for an offline token ("remember me"): the session then lives by Keycloak's Offline
 * Session Idle, and a browser's cookie survives a browser restart. `prompt`, `login_hint`,
 * `kc_idp_hint`, `ui_locales`, `acr_values`, `max_age` and `scope` (scopes added to the app's) go to
 * Keycloak where the app's configuration allows each (see `loginParams`); `prompt=none` is a silent
 * login, which comes back to `returnTo` with `?error=login_required` when Keycloak has no session.
 */
export function loginRoute(deps: LoginRouteDeps): RequestHandler {
  const { app } = deps
  return async function startLoginHandler(req, res) {
    const client = param(req, 'client') ?? 'web'
    if (client !== 'web' && client !== 'mobile')
      throw new KeywardError('invalid_request', 'client must be web or mobile.')
    const mobile = client === 'mobile' ? mobileLogin(req, app) : undefined
    const returnTo = mobile ? '/' : safeReturnTo(req.query.returnTo, app.publicUrl)
    const offline = param(req, 'offline')
    if (offline !== undefined && offline !== '1') {
      throw new KeywardError('invalid_request', 'offline must be 1 (ask for an offline token) or left out.')
    }
    const asked = loginParams((name) => param(req, name), app.login)
    await deps.admitLogin(req) // a valid request: it will store a transaction
    // One binding value per browser, reused across tabs, so parallel logins do not evict each other.
    const existing = parseCookie(req.headers.cookie ?? '')[loginBindingName(app.cookie)]
    const binding = existing && OPAQUE.test(existing) ? existing : randomOpaque()
    const url = await startLogin(deps.login, {
      app: app.id,
      callbackUrl: app.callbackUrl,
      scope: app.scopes,
      binding,
      returnTo,
      offline: offline === '1',
      mobile,
      params: asked.params,
      extraScopes: asked.scopes,
    })
    setLoginBinding(res, app.cookie, binding, deps.loginTxTtlSeconds)
    res.redirect(302, url.href)
  }
}
