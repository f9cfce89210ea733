import { parseCookie } from 'cookie'
import type { Request, RequestHandler, Response } from 'express'
import { Problem } from '../../errors'
import { errorFields } from '../../log'
import type { LoginTransaction } from '../../store/login-transactions'
import { randomOpaque } from '../../tokens/opaque'
import { storeNewSession } from '../../tokens/new-session'
import { grantsOffline, newTokenSession, type TokenSession } from '../../tokens/token-session'
import { followTokenSession, loginBindingCookie } from '../cookies'
import { regenerateSession, saveSession, type AppContext } from '../context'
import { deviceLabel } from '../device-label'
import { callbackUrl } from './login'

const single = (v: unknown): string | undefined => (typeof v === 'string' && v.length > 0 && v.length <= 4096 ? v : undefined)

/** Back to the app's redirect URI with `params` (and the app's own state). */
function toApp(res: Response, mobile: NonNullable<LoginTransaction['mobile']>, params: Record<string, string>): void {
  const url = new URL(mobile.redirectUri)
  for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v)
  if (mobile.state) url.searchParams.set('state', mobile.state)
  res.set('Cache-Control', 'no-store').redirect(302, url.href)
}

/**
 * GET /auth/callback — consumes the login transaction once and redeems the code. A browser gets a
 * new cookie session (a fresh id: no session fixation) pointing at a new token session. A mobile
 * login gets a one-time code at its redirect URI instead, which `POST /auth/token` turns into a
 * session handle.
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
    // Several apps may share one Redis: a login finishes only on the app it started on.
    if (tx.app !== ctx.app.id) throw new Problem('invalid_state', 'This login was started on another application; start the login again.')
    if (error) {
      // Keycloak's own error codes (access_denied, …) go back to a mobile app the OAuth way.
      if (tx.mobile) return toApp(res, tx.mobile, { error: error.slice(0, 64) })
      throw new Problem('login_failed', `Keycloak ended the login with ${JSON.stringify(error.slice(0, 64))}; start the login again.`)
    }

    const url = callbackUrl(ctx)
    url.search = new URL(req.originalUrl, url).search
    const grant = await ctx.oidc.codeGrant(url, { codeVerifier: tx.codeVerifier, nonce: tx.nonce, state })
    const session = newTokenSession(grant, {
      id: randomOpaque(),
      app: ctx.app.id,
      // Asked for and granted: a user without the offline_access role gets an online session.
      kind: tx.offline && grantsOffline(grant) ? 'offline' : 'online',
      now: ctx.now(),
      lifetimes: ctx.lifetimes,
    })
    ctx.log.info({ app: ctx.app.id, sub: session.sub, kind: session.kind, client: tx.mobile ? 'mobile' : 'web' }, 'login')

    if (tx.mobile) {
      const { mobile } = tx
      const code = randomOpaque()
      await storeNewSession(session, () => ctx.mobileCodes.create(code, { ...mobile, app: ctx.app.id }, session), ctx)
      return toApp(res, mobile, { code })
    }
    const previous = req.session.tokenSessionId
    await storeNewSession(session, () => startCookieSession(ctx, req, session), ctx)
    if (previous) await retirePrevious(ctx, previous, session)
    res.set('Cache-Control', 'no-store').redirect(302, tx.returnTo)
  }
}

/** A new cookie session (a fresh id: no session fixation) pointing at the new token session. */
async function startCookieSession(ctx: AppContext, req: Request, session: TokenSession): Promise<void> {
  await regenerateSession(req)
  session.cookieSessionId = req.sessionID
  session.device = deviceLabel(req.get('user-agent'))
  await ctx.tokenSessions.create(session)
  req.session.tokenSessionId = session.id
  followTokenSession(req, session, ctx.now())
  await saveSession(req)
}

/**
 * A second login in the same browser replaces the session its cookie pointed at:
 * - another Keycloak session (another `sid`: another user, or Keycloak had forgotten the first): it is
 *   revoked at Keycloak and forgotten here, so nothing is left there that nobody holds;
 * - the same Keycloak client session (same `sid` and kind: a single sign-on login again): it is only
 *   forgotten here, because revoking its token would end the new session too;
 * - the same `sid` but the other kind (online and offline): it is kept, no longer behind this cookie,
 *   and listed under /auth/sessions until it is revoked or expires, because revoking one of the pair
 *   at Keycloak could end the other. So is one whose revocation failed.
 */
async function retirePrevious(ctx: AppContext, previousId: string, current: TokenSession): Promise<void> {
  const old = await ctx.tokenSessions.get(previousId).catch(() => undefined)
  if (!old) return
  const sameKeycloakSession = old.sid !== undefined && old.sid === current.sid
  if (sameKeycloakSession && old.kind !== current.kind) return
  if (!sameKeycloakSession && old.tokens.refreshToken) {
    try {
      await ctx.oidcFor(old.app).revoke(old.tokens.refreshToken)
    } catch (err) {
      ctx.log.warn({ app: old.app, sub: old.sub, error: errorFields(err) }, 'revoking the session this login replaced failed; it stays listed')
      return
    }
  }
  await ctx.tokenSessions.delete(old).catch((err: unknown) => ctx.log.warn({ error: errorFields(err) }, 'forgetting the replaced session failed'))
}
