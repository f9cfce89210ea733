import { randomBytes } from 'node:crypto'
import { parseCookie } from 'cookie'
import type { RequestHandler } from 'express'
import { loginBindingCookie } from '../cookies'
import type { AppContext } from '../context'
import { safeReturnTo } from '../return-to'

export const callbackUrl = (ctx: AppContext) => new URL('/auth/callback', ctx.app.publicUrl)

/** GET /auth/login?returnTo=/path — starts authorization code + PKCE at Keycloak. */
export function login(ctx: AppContext): RequestHandler {
  const binding = loginBindingCookie(ctx.app.cookie, ctx.loginTxTtlSeconds)
  return async function startLogin(req, res) {
    const returnTo = safeReturnTo(req.query.returnTo, ctx.app.publicUrl)
    const start = await ctx.oidc.startLogin({ redirectUri: callbackUrl(ctx).href, scope: ctx.app.scopes })
    // One binding value per browser, reused across tabs, so parallel logins do not evict each other.
    const existing = parseCookie(req.headers.cookie ?? '')[binding.name]
    const bindingValue = existing && /^[A-Za-z0-9_-]{43}$/.test(existing) ? existing : randomBytes(32).toString('base64url')
    await ctx.loginTransactions.create(start.state, bindingValue, {
      app: ctx.app.id,
      codeVerifier: start.codeVerifier,
      nonce: start.nonce,
      returnTo,
    })
    res.cookie(binding.name, bindingValue, binding.options)
    res.set('Cache-Control', 'no-store').redirect(302, start.url.href)
  }
}
