import { pipeline } from 'node:stream/promises'
import type { Request, RequestHandler } from 'express'
import type { Dispatcher } from 'undici'
import type { UpstreamConfig } from '../../config/load'
import { Problem } from '../../errors'
import type { TokenService } from '../../tokens/token-service'
import type { Forwarder } from '../../upstream/forward'
import { loginBindingCookie, sessionCookieOptions } from '../cookies'
import type { AppContext } from '../context'

export interface ProxyDeps {
  upstreams: ReadonlyMap<string, UpstreamConfig>
  tokens: TokenService
  forwarder: Forwarder
}

// Replaying a request needs its body again, so only bodiless idempotent requests are retried.
const RETRYABLE = new Set(['GET', 'HEAD', 'OPTIONS', 'DELETE'])
const hasBody = (req: Request) => req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0

/** `/api/<upstream>/<rest>` → the rest, still encoded, with its query; refuses dot segments. */
function pathBelow(req: Request, upstream: string): string {
  const prefix = `/api/${upstream}`
  if (!req.originalUrl.startsWith(prefix) || !/^($|[/?])/.test(req.originalUrl.slice(prefix.length))) {
    throw new Problem('invalid_request', 'Name the upstream plainly: /api/<upstream>/<path>.')
  }
  const raw = req.originalUrl.slice(prefix.length)
  const [path = '', query] = raw.split(/\?(.*)/s, 2)
  const segments = path.split('/')
  if (segments.some((s) => /^(\.|%2e){1,2}$/i.test(s)) || /%2f|%5c|\\/i.test(path)) {
    throw new Problem('invalid_request', 'The API path may not contain dot segments or encoded slashes.')
  }
  return query === undefined ? path : `${path}?${query}`
}

/** The caller's cookies minus keyward's own, passed on byte for byte (values, order, duplicates). */
function otherCookies(header: string | undefined, keywards: ReadonlySet<string>): string | undefined {
  const kept = (header ?? '').split(';').map((pair) => pair.trim()).filter((pair) => pair && !keywards.has(pair.split('=', 1)[0]!.trim()))
  return kept.length ? kept.join('; ') : undefined
}

/**
 * ANY /api/<upstream>/<path> — forwards to a configured upstream with the session's access token.
 * An upstream's own 401 gets one forced refresh and one retry, for bodiless idempotent requests.
 */
export function proxy(ctx: AppContext, deps: ProxyDeps): RequestHandler {
  const keywardCookies = new Set([ctx.app.cookie.name, loginBindingCookie(ctx.app.cookie, 0).name])
  return async function forwardToUpstream(req, res) {
    const name = String(req.params.upstream)
    const upstream = deps.upstreams.get(name)
    if (!upstream) throw new Problem('unknown_upstream', `No upstream is called ${JSON.stringify(name.slice(0, 64))}.`)
    const pathAndQuery = pathBelow(req, name)
    const cookie = otherCookies(req.headers.cookie, keywardCookies)
    const call = (accessToken: string) =>
      deps.forwarder.send(upstream, {
        method: req.method,
        pathAndQuery,
        headers: req.headers,
        cookie,
        body: hasBody(req) ? req : undefined,
        accessToken,
        forwardedFor: { ip: req.ip ?? '', proto: req.protocol, host: req.host },
      })

    let session = res.locals.tokenSession!
    let answer: Dispatcher.ResponseData | undefined
    try {
      answer = await call(await deps.tokens.accessToken(session))
      if (answer.statusCode === 401 && RETRYABLE.has(req.method) && !hasBody(req)) {
        await answer.body.dump()
        session = await deps.tokens.forceRefresh(session)
        answer = await call(session.tokens.accessToken)
      }
      // setHeader, not res.set: the upstream's headers go out as they came (no charset added to a
      // Content-Type, repeated headers kept); its Vary joins keyward's own (Origin, for CORS).
      for (const [name, value] of Object.entries(deps.forwarder.responseHeaders(answer.headers))) {
        if (name === 'vary') res.vary(String(value))
        else res.setHeader(name, value)
      }
      res.writeHead(answer.statusCode)
      await pipeline(answer.body, res)
    } catch (err) {
      answer?.body.destroy() // never leave an upstream connection waiting on an unread body
      if (err instanceof Problem && err.code === 'session_expired' && !res.locals.viaBearer) {
        res.clearCookie(ctx.app.cookie.name, sessionCookieOptions(ctx.app.cookie))
      }
      if (res.headersSent || req.socket.destroyed) {
        // The body broke off midway, or the client left: a cut, not a short body or an error page.
        res.destroy()
        return
      }
      throw err
    }
  }
}
