import type { IncomingHttpHeaders } from 'node:http'
import { Agent, errors, request, type Dispatcher } from 'undici'
import type { UpstreamConfig } from '../config/types'
import { Failure } from '../domain/failures'
import type { DPoPKey } from '../domain/token-session'
import { dpopProof } from '../domain/dpop-proof'

// Hop-by-hop headers (RFC 9110 §7.6.1; also any a message names in its Connection header) and what
// keyward owns: never passed along.
const DROP_REQUEST = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'host',
  'authorization',
  'cookie',
  'x-csrf',
  'dpop',
  'forwarded',
  // Node has already answered the caller's 100-continue; undici refuses to send the header on.
  'expect',
  // Forwarding headers: keyward sets X-Forwarded-For, -Proto and -Host itself, from what it knows.
  // The others, which upstreams and their frameworks may believe (client address, original URL,
  // method override), a client could set to anything: they go nowhere.
  'x-forwarded-for',
  'x-forwarded-host',
  'x-forwarded-proto',
  'x-request-id',
  'x-forwarded-port',
  'x-forwarded-prefix',
  'x-forwarded-server',
  'x-forwarded-ssl',
  'x-forwarded-scheme',
  'x-url-scheme',
  'front-end-https',
  'x-real-ip',
  'true-client-ip',
  'x-client-ip',
  'x-cluster-client-ip',
  'cf-connecting-ip',
  'fastly-client-ip',
  'x-original-url',
  'x-rewrite-url',
  'x-original-host',
  'x-http-method-override',
  'x-http-method',
  'x-method-override',
])
// An upstream behind a BFF has no business setting cookies on the app's origin (it could overwrite
// keyward's own), nor answering for CORS, which keyward does for its allowed origins.
const DROP_RESPONSE = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'set-cookie',
  'dpop-nonce', // keyward's, for its next proof
  'access-control-allow-origin',
  'access-control-allow-credentials',
  'access-control-allow-methods',
  'access-control-allow-headers',
  'access-control-expose-headers',
  'access-control-max-age',
])

const NONE: ReadonlySet<string> = new Set()

/** The headers fit to pass on: neither in `drop` nor named by the message's own `Connection` header. */
function passable(headers: IncomingHttpHeaders, drop: ReadonlySet<string>): Record<string, string | string[]> {
  const named = headers.connection
    ? new Set(
        headers.connection
          .toLowerCase()
          .split(',')
          .map((h) => h.trim()),
      )
    : NONE
  const out: Record<string, string | string[]> = {}
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined && !drop.has(name) && !named.has(name)) out[name] = value
  }
  return out
}

export interface OutgoingCall {
  method: string
  /** The path below the upstream's base URL, still percent-encoded, with its query string. */
  pathAndQuery: string
  headers: IncomingHttpHeaders
  /** The caller's cookies minus keyward's own. */
  cookie?: string
  body?: NodeJS.ReadableStream | Buffer
  /** What goes as `Authorization: Bearer`; none for a caller without a session at a `userOrNone` upstream. */
  accessToken?: string
  /** The key `accessToken` is bound to: it goes as `Authorization: DPoP`, with a proof made with the key. */
  dpopKey?: DPoPKey
  forwardedFor: { ip: string; proto: string; host: string }
  /** keyward's id of the request (see `requestIdOf`). */
  requestId?: string
}

/** What keyward knows, never what the client says: the app's own origin, the client's address. */
export const forwardedFor = (publicUrl: URL, ip: string): OutgoingCall['forwardedFor'] => ({
  ip,
  proto: publicUrl.protocol.slice(0, -1),
  host: publicUrl.host,
})

/** The headers a call sends: the caller's that may pass, and what keyward sets itself. */
export function outgoingHeaders(
  call: Pick<OutgoingCall, 'headers' | 'cookie' | 'accessToken' | 'dpopKey' | 'forwardedFor' | 'requestId'>,
): Record<string, string | string[]> {
  const headers = passable(call.headers, DROP_REQUEST)
  if (call.accessToken) headers.authorization = `${call.dpopKey ? 'DPoP' : 'Bearer'} ${call.accessToken}`
  if (call.cookie) headers.cookie = call.cookie
  headers['x-forwarded-for'] = call.forwardedFor.ip
  headers['x-forwarded-proto'] = call.forwardedFor.proto
  headers['x-forwarded-host'] = call.forwardedFor.host
  if (call.requestId) headers['x-request-id'] = call.requestId
  return headers
}

/** The upstream's URL for a path and query below its base URL. */
export const upstreamUrl = (upstream: UpstreamConfig, pathAndQuery: string): string =>
  `${upstream.url.href.replace(/\/$/, '')}${pathAndQuery}`

/** Whether an upstream's 401 asks for a DPoP proof with its nonce (RFC 9449 §9). */
const wantsNonce = (answer: Dispatcher.ResponseData): boolean =>
  answer.statusCode === 401 && /\buse_dpop_nonce\b/.test(String(answer.headers['www-authenticate'] ?? ''))

/**
 * Streams calls to the configured upstreams over a keep-alive pool; nowhere else is reachable. A call
 * with a DPoP-bound token carries a fresh proof, with the nonce the upstream last gave (kept per
 * upstream); a nonce challenge is answered once, unless the body was streamed and cannot be sent again.
 */
export function createForwarder() {
  const agent = new Agent({ keepAliveTimeout: 30_000, connections: 256 })
  const nonces = new Map<string, string>()

  async function once(
    upstream: UpstreamConfig,
    call: OutgoingCall,
    url: string,
    nonce: string | undefined,
  ): Promise<Dispatcher.ResponseData> {
    const headers = outgoingHeaders(call)
    if (call.dpopKey && call.accessToken) {
      headers.dpop = await dpopProof(call.dpopKey, { method: call.method, url, accessToken: call.accessToken, nonce })
    }
    try {
      return await request(url, {
        method: call.method,
        headers,
        body: call.body as Dispatcher.DispatchOptions['body'],
        dispatcher: agent,
        headersTimeout: upstream.timeoutMs,
        bodyTimeout: upstream.timeoutMs,
      })
    } catch (err) {
      if (err instanceof errors.HeadersTimeoutError || err instanceof errors.ConnectTimeoutError) {
        throw new Failure('upstream_timeout', 'The upstream did not answer in time.', { cause: err })
      }
      throw new Failure('upstream_unavailable', 'The upstream could not be reached.', { cause: err })
    }
  }

  return {
    async send(upstream: UpstreamConfig, call: OutgoingCall): Promise<Dispatcher.ResponseData> {
      const url = upstreamUrl(upstream, call.pathAndQuery)
      const { origin } = upstream.url
      const sent = nonces.get(origin)
      const answer = await once(upstream, call, url, sent)
      const nonce = call.dpopKey && answer.headers['dpop-nonce']
      if (typeof nonce !== 'string' || nonce === sent) return answer
      nonces.set(origin, nonce)
      if (!wantsNonce(answer) || (call.body && !Buffer.isBuffer(call.body))) return answer
      await answer.body.dump()
      return once(upstream, call, url, nonce)
    },

    /** Response headers fit to pass to the client. */
    responseHeaders: (headers: IncomingHttpHeaders): Record<string, string | string[]> =>
      passable(headers, DROP_RESPONSE),

    close: () => agent.close(),
  }
}

export type Forwarder = ReturnType<typeof createForwarder>
