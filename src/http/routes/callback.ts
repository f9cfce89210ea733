import { parseCookie } from 'cookie'
import type { Request, RequestHandler, Response } from 'express'
import { Problem } from '../../errors'
import { errorFields } from '../../log'
import type { LoginTransaction } from '../../store/login-transactions'
import { randomOpaque } from '../../tokens/opaque'
import { ownKeycloakSession, storeNewSession } from '../../tokens/new-session'
import { revokeSession } from '../../tokens/session-end'
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
    if (tx.mobile) {
      // From here on a mobile login ends at the app, the OAuth way, whatever happens: an error page in
      // the system browser would strand it.
      const { mobile } = tx
      try {
        if (error) return toApp(res, mobile, { error: error.slice(0, 64) }) // Keycloak's own: access_denied, …
        const { session, ownKeycloakSession: own } = await redeem(ctx, req, tx, state)
        const code = randomOpaque()
        await storeNewSession(session, own, () => ctx.mobileCodes.create(code, { ...mobile, app: ctx.app.id }, { session, ownKeycloakSession: own }), ctx)
        return toApp(res, mobile, { code })
      } catch (err) {
        if (!(err instanceof Problem)) throw err
        ctx.log.info({ app: ctx.app.id, problem: err.code, error: errorFields(err.cause) }, 'mobile login failed')
        return toApp(res, mobile, { error: err.status === 503 ? 'temporarily_unavailable' : 'server_error' })
      }
    }
    if (error) throw new Problem('login_failed', `Keycloak ended the login with ${JSON.stringify(error.slice(0, 64))}; start the login again.`)
    const { session, ownKeycloakSession: own } = await redeem(ctx, req, tx, state)
    const previous = req.session.tokenSessionId
    await storeNewSession(session, own, () => startCookieSession(ctx, req, session), ctx)
    if (previous) await retirePrevious(ctx, previous, session)
    res.set('Cache-Control', 'no-store').redirect(302, tx.returnTo)
  }
}

/** The authorization code for tokens, as a new token session of this app. */
async function redeem(ctx: AppContext, req: Request, tx: LoginTransaction, state: string) {
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
  return { session, ownKeycloakSession: ownKeycloakSession(session, tx.startedAt) }
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
 *   revoked at Keycloak (unless another device still shares it, see `revokeSession`) and forgotten
 *   here, so nothing is left there that nobody holds;
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
  const end = sameKeycloakSession ? ctx.tokenSessions.delete(old) : revokeSession(ctx, old)
  await end.catch((err: unknown) => ctx.log.warn({ app: old.app, sub: old.sub, error: errorFields(err) }, 'ending the session this login replaced failed; it stays listed'))
}
