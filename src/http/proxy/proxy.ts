import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Dispatcher } from 'undici'
import type { AppConfig, UpstreamConfig } from '../../config/types'
import { outcomeOf, secondsSince, type Metrics } from '../../domain/metrics'
import { requestContext, type Logger } from '../../log'
import { forwardedFor, type Forwarder, type OutgoingCall } from '../../upstream/forward'
import { clearSessionCookie } from '../browser-cookie'
import type { Caller, CallerOf } from '../caller'
import { logProblem } from '../middleware/error-handler'
import { apiSecurityHeaders } from '../middleware/security-headers'
import { sendProblem, toProblem } from '../problem'
import { outgoingBody } from './body'
import type { ApiTarget } from './path'
import { upstreamAccess, type UpstreamAccessDeps } from './upstream-access'
import { shuttingDown } from '../middleware/draining'

/** What the API proxy needs of one app. */
export interface ApiApp {
  app: AppConfig
  /** The app's own cookies (session, login binding): never passed to an upstream. */
  cookies: ReadonlySet<string>
  caller: CallerOf
  /** Answers a CORS preflight from an allowed origin (true), or adds CORS headers to the answer. */
  cors: (req: IncomingMessage, res: ServerResponse) => boolean
}

export interface ApiProxyDeps extends UpstreamAccessDeps {
  forwarder: Forwarder
  /** The client's address (X-Forwarded-For believed only from TRUST_PROXY's hops). */
  clientIp: (req: IncomingMessage) => string
  isDraining: () => boolean
  metrics: Pick<Metrics, 'upstream'>
  log: Logger
  now: () => number
}

// Replaying a request needs its body again, so only bodiless idempotent requests are retried.
const RETRYABLE = new Set(['GET', 'HEAD', 'OPTIONS', 'DELETE'])
// A token obtained this recently is not refreshed for an upstream's 401: that upstream refuses for
// reasons of its own, and each call would otherwise cost Keycloak a refresh.
const REFRESH_FOR_401_AFTER_MS = 10_000

/** The caller's cookies minus keyward's own, passed on byte for byte (values, order, duplicates). */
export function otherCookies(header: string | undefined, keywards: ReadonlySet<string>): string | undefined {
  if (!header) return undefined
  const kept = header
    .split(';')
    .map((pair) => pair.trim())
    .filter((pair) => pair && !keywards.has(pair.split('=', 1)[0].trim()))
  return kept.length ? kept.join('; ') : undefined
}

/**
 * The upstream's Cache-Control, made `private` unless it is already (or `no-store`): the browser's
 * request carries a cookie, not `Authorization`, so a shared cache in front of keyward would
 * otherwise be free to keep one user's answer for others.
 */
export function privateCacheControl(value: string | string[] | undefined): string {
  const directives = String(value ?? '')
    .split(',')
    .map((d) => d.trim())
    .filter(Boolean)
  const names = directives.map((d) => d.split('=', 1)[0].toLowerCase())
  if (names.includes('private') || names.includes('no-store')) return directives.join(', ')
  return ['private', ...directives.filter((_d, i) => names[i] !== 'public')].join(', ')
}

/** The upstream's Vary joins keyward's own (Origin, for CORS). */
function addVary(res: ServerResponse, value: string | string[]): void {
  const mine = res.getHeader('vary')
  res.setHeader('Vary', mine ? `${String(mine)}, ${String(value)}` : value)
}

/**
 * Streams the upstream's body to the client. Not `stream.pipeline`: it builds an AbortError (a
 * DOMException with its stack) for every answer, a cost the hot path does not need to pay.
 */
function relay(body: Dispatcher.ResponseData['body'], res: ServerResponse): Promise<void> {
  return new Promise((resolve, reject) => {
    const cut = () => {
      if (!res.writableFinished) reject(new Error('the client went away before the answer was sent'))
    }
    body.once('error', reject)
    res.once('close', cut)
    res.once('finish', () => {
      res.off('close', cut)
      resolve()
    })
    body.pipe(res)
  })
}

/**
 * ANY /api/<upstream>/<path> — the hot path (the server answers it before Express; the middleware
 * where the host application mounts `kw.proxy`): the caller's credential and one Redis read give the
 * token session (see `callerOf`), and the call goes to the upstream `target` names, with the session's
 * access token. An upstream's own 401 gets one forced refresh and one retry, for bodiless idempotent
 * requests. Answers carry helmet's API headers; problems are problem+json.
 */
export function createApiProxy(deps: ApiProxyDeps) {
  const securityHeaders = apiSecurityHeaders()
  const access = upstreamAccess(deps)
  const debug = deps.log.isLevelEnabled('debug')

  /** One call to the upstream `name`, timed to its answer's headers. */
  async function send(name: string, upstream: UpstreamConfig, call: OutgoingCall) {
    const started = performance.now()
    try {
      const answer = await deps.forwarder.send(upstream, call)
      deps.metrics.upstream(name, `${Math.floor(answer.statusCode / 100)}xx`, secondsSince(started))
      return answer
    } catch (err) {
      deps.metrics.upstream(name, outcomeOf(err), secondsSince(started))
      throw err
    }
  }

  async function forward(
    req: IncomingMessage,
    res: ServerResponse,
    api: ApiApp,
    me: Caller | undefined,
    { name, pathAndQuery }: ApiTarget,
  ): Promise<void> {
    const upstream = access.upstream(api.app, name, req.method!, res)
    let session = me && (await access.admitted(me.session, upstream, api.app))
    const { body, headers } = outgoingBody(req)
    const { publicUrl } = api.app
    const outgoing = {
      method: req.method!,
      pathAndQuery,
      headers,
      cookie: otherCookies(req.headers.cookie, api.cookies),
      body,
      forwardedFor: forwardedFor(publicUrl, deps.clientIp(req)),
      requestId: requestContext.getStore()?.requestId,
    }
    // `force`: the upstream refused the token it got.
    const tokenFor = async (force: boolean) => {
      const got = await access.credential(api.app, name, upstream, session, force)
      session = got.session
      return got.credential
    }
    let token = await tokenFor(false)
    let answer = await send(name, upstream, { ...outgoing, accessToken: token.accessToken, dpopKey: token.dpopKey })
    try {
      const retry =
        token.accessToken &&
        RETRYABLE.has(outgoing.method) &&
        !body &&
        deps.now() - token.obtainedAt >= REFRESH_FOR_401_AFTER_MS
      if (answer.statusCode === 401 && retry) {
        await answer.body.dump()
        token = await tokenFor(true)
        answer = await send(name, upstream, { ...outgoing, accessToken: token.accessToken, dpopKey: token.dpopKey })
      }
      // setHeader, not Express's res.set: the upstream's headers go out as they came (no charset added
      // to a Content-Type, repeated headers kept).
      for (const [header, value] of Object.entries(deps.forwarder.responseHeaders(answer.headers))) {
        if (header === 'vary') addVary(res, value)
        else if (header !== 'cache-control') res.setHeader(header, value)
      }
      res.setHeader('Cache-Control', privateCacheControl(answer.headers['cache-control']))
      res.writeHead(answer.statusCode)
      await relay(answer.body, res)
    } catch (err) {
      answer.body.destroy() // never leave an upstream connection waiting on an unread body
      throw err
    }
  }

  function fail(req: IncomingMessage, res: ServerResponse, api: ApiApp, me: Caller | undefined, err: unknown): void {
    if (res.headersSent || req.socket.destroyed) {
      // The body broke off midway, or the client left: a cut, not a short body or an error page.
      res.destroy()
      return
    }
    const problem = toProblem(err)
    if (problem.code === 'session_expired' && me?.via === 'cookie') clearSessionCookie(res, api.app.cookie)
    logProblem(deps.log, req, problem)
    sendProblem(res, problem)
  }

  return async function apiProxy(
    req: IncomingMessage,
    res: ServerResponse,
    api: ApiApp,
    target: () => ApiTarget,
  ): Promise<void> {
    const started = debug ? performance.now() : 0
    if (debug) {
      res.once('finish', () => {
        const ms = Math.round((performance.now() - started) * 10) / 10
        deps.log.debug({ method: req.method, path: req.url!.split('?', 1)[0], status: res.statusCode, ms }, 'request')
      })
    }
    for (const [name, value] of securityHeaders) res.setHeader(name, value)
    let me: Caller | undefined
    try {
      if (deps.isDraining()) {
        res.setHeader('Connection', 'close')
        throw shuttingDown()
      }
      if (api.cors(req, res)) return
      // Which upstream, before who calls: one that takes callers without a session does not need one.
      // (A path that names none is refused after the caller is known, so names are not probed.)
      let at: ApiTarget | undefined
      try {
        at = target()
      } catch {
        at = undefined
      }
      const anonymous = at && api.app.upstreams.has(at.name) && deps.upstreams.get(at.name)?.anonymous
      me = await api.caller(req, res, { changing: true, optional: anonymous })
      await forward(req, res, api, me, at ?? target())
    } catch (err) {
      fail(req, res, api, me, err)
    }
  }
}

export type ApiProxy = ReturnType<typeof createApiProxy>
