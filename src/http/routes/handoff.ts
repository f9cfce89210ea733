import express, { type RequestHandler } from 'express'
import type { Store } from 'express-session'
import type { AppConfig } from '../../config/types'
import { OPAQUE } from '../../domain/opaque'
import { completeHandoff, redeemForPeer, startHandoff, type HandoffDeps } from '../../sessions/handoff'
import { cookieSessionMinter, openBrowserSession } from '../browser-session'
import type { CallerOf } from '../caller'
import { field } from '../body'
import { appState, pkceChallenge } from '../mobile-proof'
import { KeywardError } from '../problem'
import { safeReturnTo } from '../return-to'

export interface HandoffRouteDeps {
  app: AppConfig
  /** Every app keyward serves, by id: where a handoff may go. */
  apps: ReadonlyMap<string, AppConfig>
  caller: CallerOf
  handoff: HandoffDeps
  serviceClientOf: (token: string) => Promise<string | undefined>
  cookieSessionStore: Store
  secrets: string[]
}

/** The app a handoff `target` names, by id or by origin. */
function targetApp(apps: ReadonlyMap<string, AppConfig>, target: unknown): AppConfig {
  if (typeof target !== 'string' || target.length === 0 || target.length > 256) {
    throw new KeywardError('invalid_request', 'target must name an app, by id (e.g. "drivers") or origin.')
  }
  const found = apps.get(target) ?? [...apps.values()].find((a) => a.publicUrl.origin === target)
  if (!found) throw new KeywardError('handoff_not_allowed', `No app ${JSON.stringify(target)} is configured.`)
  return found
}

/** A mobile target's part of the request: where its code goes, and its PKCE challenge. */
function mobileTarget(body: unknown): { codeChallenge: string; redirectUri: string; state?: string } | undefined {
  const redirectUri = field(body, 'redirectUri')
  if (redirectUri === undefined) return undefined
  if (typeof redirectUri !== 'string' || redirectUri.length > 2048) {
    throw new KeywardError('invalid_request', "redirectUri must be one of the target app's redirect URIs.")
  }
  const codeChallenge = pkceChallenge(
    field(body, 'codeChallenge'),
    field(body, 'codeChallengeMethod'),
    'A handoff to a mobile app needs codeChallenge (S256 of its verifier, base64url) and codeChallengeMethod "S256".',
  )
  return { codeChallenge, redirectUri, state: appState(field(body, 'state')) }
}

/**
 * POST /auth/handoff `{ target, returnTo? }` — hands the caller's session to a sibling app (cookie
 * session with the CSRF header, or a mobile handle). Answers `{ url, expiresAt }`: the browser goes to
 * `url`, on the target's origin, within the code's lifetime. To a mobile app: `{ target, redirectUri,
 * codeChallenge, codeChallengeMethod: "S256", state? }`, and `url` is the app's redirect URI with the
 * code, which the app redeems at its `POST /auth/token` with its verifier.
 */
export function handoffStartRoute(deps: HandoffRouteDeps): RequestHandler[] {
  return [
    express.json({ limit: '8kb' }),
    async function startHandoffHandler(req, res) {
      const me = (await deps.caller(req, res, { changing: true }))!
      const target = targetApp(deps.apps, field(req.body, 'target'))
      const mobile = mobileTarget(req.body)
      const returnTo = mobile ? '/' : safeReturnTo(field(req.body, 'returnTo'), target.publicUrl)
      const code = await startHandoff(deps.handoff, me.session, { target: target.id, returnTo, mobile })
      const url = mobile
        ? new URL(mobile.redirectUri)
        : new URL(`${target.authPath}/handoff/complete`, target.publicUrl)
      url.searchParams.set('code', code)
      if (!mobile) url.searchParams.set('from', deps.app.id) // another deployment asks this one
      if (mobile?.state) url.searchParams.set('state', mobile.state)
      res.json({ url: url.href, expiresAt: new Date(deps.handoff.now() + deps.handoff.codeTtlSeconds * 1000) })
    },
  ]
}

/**
 * GET /auth/handoff/complete?code=… — on the target's origin: redeems the code (see
 * `completeHandoff`), sets this app's own session cookie, and sends the browser on to its page.
 */
export function handoffCompleteRoute(deps: HandoffRouteDeps): RequestHandler[] {
  const browser = { ...deps, tokenSessions: deps.handoff.tokenSessions, now: deps.handoff.now }
  return [
    cookieSessionMinter(deps),
    async function completeHandoffHandler(req, res) {
      const code = req.query.code
      if (typeof code !== 'string' || !OPAQUE.test(code)) {
        throw new KeywardError('invalid_request', 'code is missing or malformed.')
      }
      const from =
        typeof req.query.from === 'string' && /^[a-z0-9-]{1,32}$/.test(req.query.from) ? req.query.from : undefined
      const before = await deps.caller(req, res, { changing: false, optional: true }).catch(() => undefined)
      const { returnTo } = await completeHandoff(
        deps.handoff,
        { app: deps.app.id, code, from, previous: before?.session },
        (pending) => openBrowserSession(req, res, browser, pending),
      )
      res.redirect(302, returnTo)
    },
  ]
}

/**
 * POST /auth/handoff/redeem `{ code, app }` — server to server: another keyward deployment, holding a
 * Keycloak token of its app's client (client credentials), redeems a code made here for that app.
 * Answers `{ subject_token, return_to }`: the source session's access token, whose audience holds
 * that app, for it to exchange as its own client. No cookie is read; nothing else is accepted.
 */
export function handoffRedeemRoute(deps: HandoffRouteDeps): RequestHandler[] {
  return [
    express.json({ limit: '8kb' }),
    async function redeemForPeerHandler(req, res) {
      const bearer = /^Bearer ([A-Za-z0-9._~+/-]+=*)$/.exec(req.get('authorization') ?? '')?.[1]
      const clientId = bearer && (await deps.serviceClientOf(bearer))
      if (!clientId) {
        res.setHeader('WWW-Authenticate', 'Bearer error="invalid_token"')
        throw new KeywardError(
          'invalid_token',
          "A Keycloak token of the asking app's client (client credentials) is needed.",
        )
      }
      const code = field(req.body, 'code')
      const app = field(req.body, 'app')
      if (typeof code !== 'string' || !OPAQUE.test(code)) {
        throw new KeywardError('invalid_request', 'code is missing or malformed.')
      }
      if (typeof app !== 'string')
        throw new KeywardError('invalid_request', 'app, the id of the asking app, is missing.')
      const redeemed = await redeemForPeer(deps.handoff, { code, app, clientId })
      res.json({ subject_token: redeemed.subjectToken, return_to: redeemed.returnTo })
    },
  ]
}
