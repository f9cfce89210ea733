import type { Lifetimes, SessionCaps } from '../config/types'
import { Failure, isFailure } from '../domain/failures'
import type { LoginHook, LoginTransaction, MobileLoginRequest } from '../domain/login'
import type { Metrics } from '../domain/metrics'
import { HANDLE_PREFIX, randomOpaque, s256, sessionIdOf } from '../domain/opaque'
import { grantsOffline, newSession, openedBy, type NewSession, type TokenSession } from '../domain/token-session'
import { errorFields, type Logger } from '../log'
import type { OidcClient } from '../oidc/client'
import type { LoginTransactionStore } from '../store/login-transactions'
import type { MobileCodeStore } from '../store/mobile-codes'
import type { TokenSessionStore } from '../store/token-sessions'
import { applyLoginHook } from './login-hook'
import { retryWhileStoreUnavailable } from '../store/retry'
import { retireReplaced } from './replaced'
import { raiseInPlace } from './step-up'
import { keepWithinCaps } from './session-end'

/** How long a login keeps trying to store what Keycloak just issued while Redis is away. */
const STORE_BUDGET_MS = 5000

export interface LoginDeps {
  loginTransactions: LoginTransactionStore
  mobileCodes: MobileCodeStore
  tokenSessions: TokenSessionStore
  oidcFor: (app: string) => OidcClient
  lifetimes: Lifetimes
  /** MAX_SESSIONS_PER_USER and MAX_SESSIONS_PER_KEYCLOAK_SESSION, kept at every new session. */
  caps: SessionCaps
  metrics: Pick<Metrics, 'sessionCreated' | 'sessionEnded'>
  log: Logger
  now: () => number
  /** The application's hook (the middleware's `onLogin`): may refuse a login or keep data with its session. */
  onLogin?: LoginHook
}

export interface LoginStart {
  app: string
  /** keyward's callback URL on the app's origin. */
  callbackUrl: URL
  scope: string
  /** The browser's binding value (its login cookie): only that browser can finish this login. */
  binding: string
  returnTo: string
  offline: boolean
  mobile?: MobileLoginRequest
  /** What the app allowed this login to ask for: parameters (`prompt`, `login_hint`, …) and scopes beyond its own. */
  params?: Record<string, string>
  extraScopes?: string[]
}

/** Starts authorization code + PKCE at Keycloak: remembers the transaction, returns Keycloak's URL. */
export async function startLogin(
  deps: Pick<LoginDeps, 'loginTransactions' | 'oidcFor' | 'now'>,
  login: LoginStart,
): Promise<URL> {
  const scopes = new Set([
    ...login.scope.split(' '),
    ...(login.extraScopes ?? []),
    ...(login.offline ? ['offline_access'] : []),
  ])
  const start = await deps
    .oidcFor(login.app)
    .startLogin({ redirectUri: login.callbackUrl.href, scope: [...scopes].join(' '), extra: login.params })
  await deps.loginTransactions.create(start.state, login.binding, {
    app: login.app,
    startedAt: deps.now(),
    codeVerifier: start.codeVerifier,
    nonce: start.nonce,
    returnTo: login.returnTo,
    offline: login.offline,
    mobile: login.mobile,
    ...(login.params?.prompt === 'none' ? { silent: true } : {}),
    ...(login.params?.acr_values || login.params?.max_age ? { stepUp: true } : {}),
  })
  return start.url
}

/**
 * Consumes the login transaction `state` names, once, and only for the browser (`binding`) and app
 * that started it. A forged callback from another browser leaves the real one's transaction alone.
 */
export async function takeLoginTransaction(
  deps: Pick<LoginDeps, 'loginTransactions'>,
  callback: { app: string; state: string; binding: string },
): Promise<LoginTransaction> {
  const consumed = await deps.loginTransactions.consume(callback.state, callback.binding)
  if (!consumed.ok) {
    throw new Failure(
      'login_unknown',
      consumed.reason === 'unknown'
        ? 'This login is unknown, expired or already finished; start the login again.'
        : 'This login was started in another browser; start the login again here.',
    )
  }
  // Several apps may share one Redis: a login finishes only on the app it started on.
  if (consumed.tx.app !== callback.app) {
    throw new Failure('login_unknown', 'This login was started on another application; start the login again.')
  }
  return consumed.tx
}

interface Redeemed {
  session: NewSession
  ownKeycloakSession: boolean
}

/** Keycloak's answer at the callback: the code (redeemed for a new token session), or its error. */
export interface CallbackResult {
  app: string
  tx: LoginTransaction
  state: string
  /** The callback URL as Keycloak called it, with its query. */
  callbackUrl: URL
  /** Keycloak's `error` parameter (access_denied, …), when it sent one instead of a code. */
  error?: string
}

async function redeem(
  deps: Pick<LoginDeps, 'oidcFor' | 'lifetimes' | 'log' | 'now' | 'onLogin'>,
  cb: CallbackResult,
): Promise<Redeemed> {
  if (cb.error) {
    throw new Failure(
      'login_refused',
      `Keycloak ended the login with ${JSON.stringify(cb.error)}; start the login again.`,
    )
  }
  const { tx } = cb
  const grant = await deps
    .oidcFor(cb.app)
    .codeGrant(cb.callbackUrl, { codeVerifier: tx.codeVerifier, nonce: tx.nonce, state: cb.state })
  const client = tx.mobile ? 'mobile' : 'web'
  const made = newSession(grant, {
    app: cb.app,
    // Asked for and granted: a user without the offline_access role gets an online session.
    kind: tx.offline && grantsOffline(grant) ? 'offline' : 'online',
    now: deps.now(),
    lifetimes: deps.lifetimes,
  })
  const session = await applyLoginHook(deps, made, { claims: { ...grant.claims }, client, via: 'login' })
  deps.log.info({ app: cb.app, sub: session.sub, kind: session.kind, client }, 'login')
  return { session, ownKeycloakSession: ownKeycloakSession(session, tx.startedAt) }
}

/**
 * Whether the user signed in during this login, so that the Keycloak session is the login's own. If
 * not, single sign-on reused a session that other keyward sessions (other devices, an earlier login
 * in this browser) may share. Keycloak says so with `acr` "0" (authenticated by its SSO cookie); with
 * step-up levels configured, `auth_time` (whole seconds) must also not be before the login started.
 */
export function ownKeycloakSession(session: Pick<NewSession, 'claims'>, loginStartedAt: number): boolean {
  const { acr, auth_time: authTime } = session.claims
  return acr !== '0' && typeof authTime === 'number' && authTime >= Math.floor(loginStartedAt / 1000)
}

/**
 * Stores what a login has just obtained (`write` puts `session` wherever the login keeps it). The
 * session exists at Keycloak already, so a Redis blip is retried for a few seconds. If Redis stays
 * away, `login_not_kept` tells the caller to log in again (the one-time code or transaction is spent),
 * and the refresh token is revoked (best effort) so no session is left at Keycloak that nobody holds —
 * when it is the login's own: revoking one that single sign-on shares would end the other sessions in it.
 * Once stored, the user's oldest sessions past a cap end (`keepWithinCaps`).
 */
export async function keepNewSession(
  deps: Pick<LoginDeps, 'oidcFor' | 'log' | 'now' | 'tokenSessions' | 'caps' | 'metrics'>,
  login: Redeemed,
  write: () => Promise<void>,
): Promise<void> {
  const { session } = login
  try {
    await retryWhileStoreUnavailable(write, deps.now() + STORE_BUDGET_MS, deps.now)
  } catch (err) {
    const fields = { app: session.app, sub: session.sub, error: errorFields(err) }
    deps.log.error({ ...fields, revoking: login.ownKeycloakSession }, 'a new session could not be stored')
    if (login.ownKeycloakSession && session.tokens.refreshToken) {
      await deps
        .oidcFor(session.app)
        .revoke(session.tokens.refreshToken, session.tokens.dpopKey)
        .catch((e: unknown) =>
          deps.log.warn({ ...fields, error: errorFields(e) }, 'revoking the unstored session failed'),
        )
    }
    if (isFailure(err, 'store_unavailable')) {
      throw new Failure(
        'login_not_kept',
        'The session store could not be reached, so the login could not be kept; log in again.',
        { cause: err },
      )
    }
    throw err
  }
  await keepWithinCaps(deps, session.sub)
}

/**
 * A browser's login: the code is redeemed for a new session, which `keep` stores behind a new browser
 * cookie (and returns, with the id that cookie gives it); the session the browser held before
 * (`previous`) is retired (see `retireReplaced`).
 */
export async function finishBrowserLogin(
  deps: LoginDeps,
  cb: CallbackResult & { previous?: TokenSession },
  keep: (session: NewSession) => Promise<TokenSession>,
): Promise<TokenSession> {
  const login = await redeem(deps, cb)
  const raised = cb.tx.stepUp && cb.previous && (await raiseInPlace(deps, cb.previous, login.session))
  if (raised) {
    deps.log.info({ app: raised.app, sub: raised.sub, acr: raised.claims.acr }, 'step-up: the session kept its place')
    return raised
  }
  let kept: TokenSession | undefined
  await keepNewSession(deps, login, async () => {
    kept = await keep(login.session)
  })
  deps.metrics.sessionCreated(kept!.app, kept!.kind, 'browser_login')
  if (cb.previous) await retireReplaced(deps, cb.previous, kept!)
  return kept!
}

/**
 * A mobile login ends at the app, the OAuth way, whatever happens (an error page in the system
 * browser would strand it): the app's redirect URI with a one-time code, or with an error.
 */
export async function finishMobileLogin(deps: LoginDeps, cb: CallbackResult): Promise<URL> {
  const mobile = cb.tx.mobile!
  const toApp = (params: Record<string, string>) => {
    const url = new URL(mobile.redirectUri)
    for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v)
    if (mobile.state) url.searchParams.set('state', mobile.state)
    return url
  }
  if (cb.error) return toApp({ error: cb.error.slice(0, 64) }) // Keycloak's own: access_denied, …
  try {
    const login = await redeem(deps, cb)
    const code = randomOpaque()
    await keepNewSession(deps, login, () =>
      deps.mobileCodes.create(
        code,
        { ...mobile, app: cb.app },
        { session: login.session, ownKeycloakSession: login.ownKeycloakSession },
      ),
    )
    return toApp({ code })
  } catch (err) {
    if (!(err instanceof Failure)) throw err
    deps.log.info({ app: cb.app, failure: err.kind, error: errorFields(err.cause) }, 'mobile login failed')
    const transient = ['store_unavailable', 'keycloak_unavailable', 'login_not_kept'].includes(err.kind)
    if (err.kind === 'login_forbidden') return toApp({ error: 'access_denied' })
    return toApp({ error: transient ? 'temporarily_unavailable' : 'server_error' })
  }
}

/**
 * The app trades its one-time code and PKCE verifier for a session handle. The handle is 256 random
 * bits; Redis keeps only its hash. A wrong verifier or redirect URI leaves the code usable by its
 * rightful owner.
 */
export async function redeemMobileCode(
  deps: LoginDeps,
  request: { app: string; code: string; verifier: string; redirectUri: string; device: string },
): Promise<{ handle: string; session: TokenSession }> {
  const redeemed = await deps.mobileCodes.redeem(request.code, {
    app: request.app,
    codeChallenge: s256(request.verifier),
    redirectUri: request.redirectUri,
  })
  if (!redeemed.ok) {
    throw new Failure(
      'code_invalid',
      'The code is unknown, expired or used, or does not match this verifier and redirect_uri.',
    )
  }
  const handle = `${HANDLE_PREFIX}${randomOpaque()}`
  const session = { ...openedBy(redeemed.login.session, sessionIdOf(handle), 'mobile'), device: request.device }
  await keepNewSession(deps, redeemed.login, () => deps.tokenSessions.create(session))
  deps.metrics.sessionCreated(session.app, session.kind, 'mobile_login')
  return { handle, session }
}
