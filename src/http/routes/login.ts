import { randomBytes } from 'node:crypto'
import { parseCookie } from 'cookie'
import type { RequestHandler } from 'express'
import { Problem } from '../../errors'
import { loginBindingCookie } from '../cookies'
import type { AppContext } from '../context'
import { safeReturnTo } from '../return-to'

export const callbackUrl = (ctx: AppContext) => new URL('/auth/callback', ctx.app.publicUrl)

/**
 * GET /auth/login?returnTo=/path[&offline=1] — starts authorization code + PKCE at Keycloak.
 * `offline=1` asks for an offline token ("remember me"): the session then lives by Keycloak's Offline
 * Session Idle, and its cookie survives a browser restart.
 */
export function login(ctx: AppContext): RequestHandler {
  const binding = loginBindingCookie(ctx.app.cookie, ctx.loginTxTtlSeconds)
  return async function startLogin(req, res) {
    const returnTo = safeReturnTo(req.query.returnTo, ctx.app.publicUrl)
    const offline = req.query.offline === undefined ? false : req.query.offline === '1' ? true : undefined
    if (offline === undefined) throw new Problem('invalid_request', 'offline must be 1 (ask for an offline token) or left out.')
    const scope = offline ? `${ctx.app.scopes} offline_access` : ctx.app.scopes
    const start = await ctx.oidc.startLogin({ redirectUri: callbackUrl(ctx).href, scope })
    // One binding value per browser, reused across tabs, so parallel logins do not evict each other.
    const existing = parseCookie(req.headers.cookie ?? '')[binding.name]
    const bindingValue = existing && /^[A-Za-z0-9_-]{43}$/.test(existing) ? existing : randomBytes(32).toString('base64url')
    await ctx.loginTransactions.create(start.state, bindingValue, {
      app: ctx.app.id,
      codeVerifier: start.codeVerifier,
      nonce: start.nonce,
      returnTo,
      offline,
    })
    res.cookie(binding.name, bindingValue, binding.options)
    res.set('Cache-Control', 'no-store').redirect(302, start.url.href)
  }
}
