import { decodeJwt, type JWTPayload } from 'jose'
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { AppConfig, ForwardAuthConfig } from '../config/types'
import { grantedRoles, missingRoles } from '../domain/access'
import { secondsSince, type Metrics } from '../domain/metrics'
import type { Logger } from '../log'
import type { TokenService } from '../sessions/token-service'
import type { CallerOf } from './caller'
import { logProblem } from './middleware/error-handler'
import { KeywardError, sendProblem, toProblem } from './problem'
import { safeReturnTo } from './return-to'
import { shuttingDown } from './middleware/draining'

/** What the check needs of one app. */
export interface CheckedApp {
  app: AppConfig
  caller: CallerOf
}

export interface ForwardAuthDeps {
  /** The apps by their public URL's host: the Host the proxy passes on picks one. */
  apps: ReadonlyMap<string, CheckedApp>
  hostOf: (req: IncomingMessage) => string
  tokens: Pick<TokenService, 'currentSession'>
  settings: Pick<ForwardAuthConfig, 'headers' | 'accessToken'>
  isDraining: () => boolean
  metrics: Pick<Metrics, 'request'>
  log: Logger
}

/** The route label of every check, for metrics. */
const ROUTE = '/auth/check'
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS'])

/**
 * A header value of the claim: text as UTF-8 bytes (how nginx and Caddy pass it on), lists joined by
 * commas, control characters dropped (they could split the header); none for an object or no claim.
 */
function headerValue(value: unknown): string | undefined {
  const text = Array.isArray(value)
    ? value.filter((v) => ['string', 'number', 'boolean'].includes(typeof v)).join(',')
    : ['string', 'number', 'boolean'].includes(typeof value)
      ? String(value)
      : undefined
  if (text === undefined) return undefined
  // eslint-disable-next-line no-control-regex
  return Buffer.from(text.replace(/[\u0000-\u001f\u007f]/g, ''), 'utf8').toString('latin1')
}

/**
 * The login URL a refusal carries (`X-Keyward-Login`), for the proxy to redirect a browser to: the
 * app's login, back to the URI the proxy says was asked for (`X-Forwarded-Uri`) when it is one of the
 * app's paths. Absolute, so no proxy has to guess its own scheme and host.
 */
function loginUrl(app: AppConfig, req: IncomingMessage): string {
  const login = new URL(`${app.authPath}/login`, app.publicUrl)
  const asked = req.headers['x-forwarded-uri']
  if (typeof asked === 'string' && asked) {
    try {
      login.searchParams.set('returnTo', safeReturnTo(asked, app.publicUrl))
    } catch {
      // Not one of the app's paths: the login goes to the app's start page.
    }
  }
  return login.href
}

/**
 * A cookie session's unsafe request from an origin the app does not allow (the `Origin` the proxy
 * passes on, with the method in `X-Forwarded-Method`): the upstream behind the proxy acts on identity
 * headers, so keyward refuses such a request on its behalf.
 */
function checkOrigin(req: IncomingMessage, app: AppConfig): void {
  const method = String(req.headers['x-forwarded-method'] ?? req.method).toUpperCase()
  const origin = req.headers.origin
  if (SAFE_METHODS.has(method) || !origin || app.allowedOrigins.has(origin)) return
  throw new KeywardError('origin_not_allowed', `Requests from ${origin} may not change anything here.`)
}

/**
 * `GET <authPath>/check` on the forward-auth listener (FORWARD_AUTH_PORT): nginx's `auth_request`,
 * Caddy's `forward_auth` and Traefik's ForwardAuth ask it about each request they receive, with the
 * client's headers. A session (cookie or mobile handle) whose current access token — refreshed when
 * due, as for `/api` — grants one of the `role` query parameters (when any) gets 200 with the identity
 * headers and, if configured, `Authorization: Bearer <token>`; no session 401 (with `X-Keyward-Login`),
 * a role or an origin refused 403. Any method is answered (nginx's subrequest keeps the original one);
 * bodies are ignored. Its own listener, because a 200 may carry an access token: only the proxy may
 * reach it, never a browser.
 */
export function createForwardAuth(deps: ForwardAuthDeps) {
  async function check(req: IncomingMessage, res: ServerResponse, checked: CheckedApp, roles: string[]) {
    const { app } = checked
    const me = await checked.caller(req, res, { changing: false })
    if (me!.via === 'cookie') checkOrigin(req, app)
    const session = await deps.tokens.currentSession(me!.session)
    const claims: JWTPayload = decodeJwt(session.tokens.accessToken)
    const missing = roles.length ? missingRoles(claims, app.clientId, { anyOf: roles }) : undefined
    if (missing) throw new KeywardError('forbidden', missing)
    // Every header, empty when there is nothing to say: a proxy that copies them (Caddy's copy_headers)
    // then replaces whatever the client sent, and nginx drops a header set to an empty value.
    for (const [header, claim] of Object.entries(deps.settings.headers)) {
      const value = headerValue(claim === 'roles' ? grantedRoles(claims, app.clientId) : claims[claim])
      res.setHeader(header, value ?? '')
    }
    res.setHeader('Authorization', deps.settings.accessToken ? `Bearer ${session.tokens.accessToken}` : '')
    res.writeHead(200).end()
  }

  return function forwardAuth(req: IncomingMessage, res: ServerResponse): void {
    const started = performance.now()
    res.once('close', () => deps.metrics.request(ROUTE, String(res.statusCode), secondsSince(started)))
    res.setHeader('Cache-Control', 'no-store')
    const checked = deps.apps.get(deps.hostOf(req))
    const url = new URL(req.url ?? '/', 'http://check')
    const run = async () => {
      if (deps.isDraining()) {
        throw shuttingDown()
      }
      if (!checked) {
        throw new KeywardError(
          'misdirected_request',
          `This server answers for ${[...deps.apps.keys()].join(', ')} only; pass the request's Host on.`,
        )
      }
      if (url.pathname !== `${checked.app.authPath}/check`) throw new KeywardError('not_found', 'No such route.')
      await check(req, res, checked, url.searchParams.getAll('role'))
    }
    run().catch((err: unknown) => {
      const problem = toProblem(err)
      if (problem.status === 401 && checked) res.setHeader('X-Keyward-Login', loginUrl(checked.app, req))
      logProblem(deps.log, req, problem)
      sendProblem(res, problem)
    })
  }
}
