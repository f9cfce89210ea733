import { randomBytes } from 'node:crypto'
import { parseCookie } from 'cookie'
import type { RequestHandler } from 'express'
import { Problem } from '../../errors'
import { grantsOffline, newTokenSession } from '../../tokens/token-session'
import { loginBindingCookie } from '../cookies'
import { regenerateSession, saveSession, type AppContext } from '../context'
import { callbackUrl } from './login'

const single = (v: unknown): string | undefined => (typeof v === 'string' && v.length > 0 && v.length <= 4096 ? v : undefined)

/**
 * GET /auth/callback — consumes the login transaction once, redeems the code, stores the tokens in
 * a new token session and starts a new cookie session (a fresh id: no session fixation).
 */
export function callback(ctx: AppContext): RequestHandler {
  const binding = loginBindingCookie(ctx.app.cookie, ctx.loginTxTtlSeconds)
  return async function finishLogin(req, res) {
    const state = single(req.query.state)
    const error = single(req.query.error)
    if (!state) throw new Problem('invalid_state', 'The callback carries no state; start the login again.')
    if (!error && !single(req.query.code)) throw new Problem('invalid_request', 'The callback carries neither a code nor an error.')
    const bindingValue = parseCookie(req.headers.cookie ?? '')[binding.name] ?? ''
    const consumed = await ctx.loginTransactions.consume(state, bindingValue)
    if (!consumed.ok) {
      throw new Problem(
        'invalid_state',
        consumed.reason === 'unknown'
          ? 'This login is unknown, expired or already finished; start the login again.'
          : 'This login was started in another browser; start the login again here.',
      )
    }
    const tx = consumed.tx
    if (error) {
      throw new Problem('login_failed', `Keycloak ended the login with ${JSON.stringify(error.slice(0, 64))}; start the login again.`)
    }

    const url = callbackUrl(ctx)
    url.search = new URL(req.originalUrl, url).search
    const grant = await ctx.oidc.codeGrant(url, { codeVerifier: tx.codeVerifier, nonce: tx.nonce, state })

    const previous = req.session.tokenSessionId
    const session = newTokenSession(grant, {
      id: randomBytes(32).toString('base64url'),
      app: ctx.app.id,
      // Asked for and granted: a user without the offline_access role gets an online session.
      kind: tx.offline && grantsOffline(grant) ? 'offline' : 'online',
      now: ctx.now(),
      lifetimes: ctx.lifetimes,
    })
    await regenerateSession(req)
    session.cookieSessionId = req.sessionID
    await ctx.tokenSessions.create(session)
    req.session.tokenSessionId = session.id
    req.session.expiresAt = session.expiresAt
    // An offline session's cookie outlives the browser; an online one ends with it.
    if (session.kind === 'offline') req.session.cookie.maxAge = session.expiresAt - ctx.now()
    await saveSession(req)
    if (previous) {
      // A second login in the same browser replaces the first session; its record goes now.
      const old = await ctx.tokenSessions.get(previous)
      if (old) await ctx.tokenSessions.delete(old)
    }
    ctx.log.info({ app: ctx.app.id, sub: session.sub, kind: session.kind }, 'login')
    res.set('Cache-Control', 'no-store').redirect(302, tx.returnTo)
  }
}
