import { parseCookie } from 'cookie'
import type { Request, RequestHandler } from 'express'
import { Problem } from '../../errors'
import type { LoginTransaction } from '../../store/login-transactions'
import { randomOpaque } from '../../tokens/opaque'
import { loginBindingCookie } from '../cookies'
import type { AppContext } from '../context'
import { safeReturnTo } from '../return-to'

export const callbackUrl = (ctx: AppContext) => new URL('/auth/callback', ctx.app.publicUrl)

const param = (req: Request, name: string): string | undefined => {
  const v = req.query[name]
  if (v === undefined) return undefined
  if (typeof v !== 'string') throw new Problem('invalid_request', `${name} may be given once.`)
  return v
}

/** A mobile login's parameters, each checked: the app gets its code only where it is allowed to. */
function mobileLogin(req: Request, ctx: AppContext): LoginTransaction['mobile'] {
  const redirectUri = param(req, 'redirect_uri')
  if (!redirectUri || !ctx.app.mobileRedirectUris.has(redirectUri)) {
    throw new Problem('invalid_request', 'redirect_uri must be one of the app redirect URIs keyward is configured with.')
  }
  const codeChallenge = param(req, 'code_challenge')
  if (param(req, 'code_challenge_method') !== 'S256' || !codeChallenge || !/^[A-Za-z0-9_-]{43}$/.test(codeChallenge)) {
    throw new Problem('invalid_request', 'A mobile login needs code_challenge (S256 of the verifier, base64url) and code_challenge_method=S256.')
  }
  const state = param(req, 'state')
  if (state !== undefined && !/^[\x21-\x7e]{1,256}$/.test(state)) {
    throw new Problem('invalid_request', 'state must be 1 to 256 printable ASCII characters.')
  }
  return { redirectUri, codeChallenge, state }
}

/**
 * GET /auth/login — starts authorization code + PKCE at Keycloak.
 * - browser: `?returnTo=/path[&offline=1]`
 * - mobile: `?client=mobile&redirect_uri=…&code_challenge=…&code_challenge_method=S256[&state=…][&offline=1]`
 * `offline=1` asks for an offline token ("remember me"): the session then lives by Keycloak's Offline
 * Session Idle, and a browser's cookie survives a browser restart.
 */
export function login(ctx: AppContext): RequestHandler {
  const binding = loginBindingCookie(ctx.app.cookie, ctx.loginTxTtlSeconds)
  return async function startLogin(req, res) {
    const client = param(req, 'client') ?? 'web'
    if (client !== 'web' && client !== 'mobile') throw new Problem('invalid_request', 'client must be web or mobile.')
    const mobile = client === 'mobile' ? mobileLogin(req, ctx) : undefined
    const returnTo = mobile ? '/' : safeReturnTo(req.query.returnTo, ctx.app.publicUrl)
    const offlineParam = param(req, 'offline')
    if (offlineParam !== undefined && offlineParam !== '1') {
      throw new Problem('invalid_request', 'offline must be 1 (ask for an offline token) or left out.')
    }
    const offline = offlineParam === '1'
    await ctx.admitLogin(req) // a valid request: it will store a transaction
    const scope = offline ? `${ctx.app.scopes} offline_access` : ctx.app.scopes
    const start = await ctx.oidc.startLogin({ redirectUri: callbackUrl(ctx).href, scope })
    // One binding value per browser, reused across tabs, so parallel logins do not evict each other.
    const existing = parseCookie(req.headers.cookie ?? '')[binding.name]
    const bindingValue = existing && /^[A-Za-z0-9_-]{43}$/.test(existing) ? existing : randomOpaque()
    await ctx.loginTransactions.create(start.state, bindingValue, {
      app: ctx.app.id,
      startedAt: ctx.now(),
      codeVerifier: start.codeVerifier,
      nonce: start.nonce,
      returnTo,
      offline,
      mobile,
    })
    res.cookie(binding.name, bindingValue, binding.options)
    res.set('Cache-Control', 'no-store').redirect(302, start.url.href)
  }
}
