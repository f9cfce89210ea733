import { ServerResponse, type IncomingMessage } from 'node:http'
import type { Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import WebSocket, { WebSocketServer } from 'ws'
import type { UpstreamConfig, WebSocketPolicy } from '../../config/types'
import type { TokenSession } from '../../domain/token-session'
import { requestContext } from '../../log'
import { forwardedFor, outgoingHeaders, upstreamUrl, type Forwarder } from '../../upstream/forward'
import { dpopProof } from '../../domain/dpop-proof'
import { logProblem } from '../middleware/error-handler'
import { apiSecurityHeaders } from '../middleware/security-headers'
import { KeywardError, sendProblem, toProblem } from '../problem'
import type { ApiTarget } from './path'
import { otherCookies, type ApiApp } from './proxy'
import { upstreamAccess, type UpstreamAccessDeps } from './upstream-access'
import { CLOSE_CODES, joinSockets, type CloseBoth, type RelayDeps } from './websocket-relay'
import { shuttingDown } from '../middleware/draining'

export interface WebSocketProxyDeps extends UpstreamAccessDeps, RelayDeps {
  forwarder: Pick<Forwarder, 'responseHeaders'>
  clientIp: (req: IncomingMessage) => string
  /** WebSockets open at once on this process (WEBSOCKET_MAX_CONNECTIONS). */
  maxConnections: number
  isDraining: () => boolean
}

// Handshake headers each leg makes its own; the rest pass as an API call's do (see `outgoingHeaders`).
const HANDSHAKE = ['sec-websocket-key', 'sec-websocket-version', 'sec-websocket-extensions', 'sec-websocket-protocol']
const WEBSOCKET_KEY = /^[+/0-9A-Za-z]{22}==$/

/** The upstream's answer to a handshake: its socket, or the HTTP answer it refused with. */
type Handshake = { ws: WebSocket; refused?: undefined } | { ws: WebSocket; refused: IncomingMessage }

/**
 * WebSockets through `/api/<upstream>/…`, for upstreams with `websocket` set. The handshake is checked
 * as an API call is, and more (the Origin of a cookie session, the limits); the upstream's handshake
 * carries the access token, fresh, and the client's subprotocols; only once the upstream accepted is
 * the client's handshake completed, with the upstream's subprotocol. Then messages pass both ways as
 * they came (text or binary; fragments reassembled), each side paused while the other has a megabyte
 * queued. The socket is closed when its session ends anywhere (`SessionWatch`), after the upstream's
 * idle timeout, at its token's expiry if the upstream asks for that, and on shutdown.
 */
export function createWebSocketProxy(deps: WebSocketProxyDeps) {
  const access = upstreamAccess(deps)
  const securityHeaders = apiSecurityHeaders()
  /** One server per message size limit: ws sets it per server. */
  const servers = new Map<number, WebSocketServer>()
  /** What each accepted handshake adds to the 101: the upstream's subprotocol, and headers. */
  const handshakes = new WeakMap<IncomingMessage, { protocol?: string; headers: string[] }>()
  /** Every open pair, to close them all on shutdown. */
  const open = new Set<CloseBoth>()
  /** Sockets open per session and upstream (`<session id> <upstream>`). */
  const perSession = new Map<string, number>()
  let reserved = 0

  function serverFor(maxPayload: number): WebSocketServer {
    let server = servers.get(maxPayload)
    if (!server) {
      server = new WebSocketServer({
        noServer: true,
        clientTracking: false,
        perMessageDeflate: false,
        maxPayload,
        handleProtocols: (_offered, req) => handshakes.get(req)?.protocol ?? false,
      })
      server.on('headers', (headers, req) => headers.push(...(handshakes.get(req)?.headers ?? [])))
      servers.set(maxPayload, server)
    }
    return server
  }

  /** Answers the handshake with a problem (or the upstream's refusal) over plain HTTP, then closes. */
  function answerer(req: IncomingMessage, socket: Socket): ServerResponse {
    const res = new ServerResponse(req)
    res.shouldKeepAlive = false
    for (const [name, value] of securityHeaders) res.setHeader(name, value)
    const requestId = requestContext.getStore()?.requestId
    if (requestId) res.setHeader('X-Request-Id', requestId)
    res.once('finish', () => {
      res.detachSocket(socket)
      socket.destroySoon()
    })
    return res
  }

  function refuse(req: IncomingMessage, socket: Socket, res: ServerResponse, err: unknown): void {
    if (socket.destroyed) return
    res.assignSocket(socket)
    const problem = toProblem(err)
    logProblem(deps.log, req, problem)
    sendProblem(res, problem)
  }

  /** Counts a socket against the process's limit and its session's to this upstream, or refuses it (429). */
  function reserve(session: TokenSession | undefined, name: string, policy: WebSocketPolicy): () => void {
    const sessionId = session && `${session.id} ${name}`
    if (reserved >= deps.maxConnections) {
      throw new KeywardError('too_many_requests', 'This keyward instance has its most WebSockets open.', {
        retryAfterSeconds: 5,
      })
    }
    const mine = sessionId ? (perSession.get(sessionId) ?? 0) : 0
    if (sessionId && mine >= policy.maxPerSession) {
      throw new KeywardError('too_many_requests', `This session has ${mine} WebSockets open to this API, its most.`)
    }
    reserved++
    if (sessionId) perSession.set(sessionId, mine + 1)
    let released = false
    return () => {
      if (released) return
      released = true
      reserved--
      if (!sessionId) return
      const left = perSession.get(sessionId)! - 1
      if (left) perSession.set(sessionId, left)
      else perSession.delete(sessionId)
    }
  }

  /** Opens the upstream's side; resolves once it accepted or refused, rejects if it cannot be reached. */
  function connect(
    url: string,
    protocols: string[],
    headers: Record<string, string | string[]>,
    upstream: UpstreamConfig,
  ) {
    return new Promise<Handshake>((resolve, reject) => {
      const ws = new WebSocket(url, protocols, {
        headers,
        perMessageDeflate: false,
        maxPayload: upstream.websocket!.maxMessageBytes,
        handshakeTimeout: upstream.timeoutMs,
      })
      ws.once('open', () => resolve({ ws }))
      ws.once('unexpected-response', (_req, refused) => resolve({ ws, refused }))
      ws.on('error', (err) => {
        const timedOut = /timed out/.test(err.message)
        reject(
          new KeywardError(
            timedOut ? 'upstream_timeout' : 'upstream_unavailable',
            timedOut ? 'The upstream did not answer in time.' : 'The upstream could not be reached.',
            { cause: err },
          ),
        )
      })
    })
  }

  /** Passes an upstream's refusal of the handshake on, as the API proxy passes an answer. */
  function passRefusal(refused: IncomingMessage, ws: WebSocket, socket: Socket, res: ServerResponse): void {
    const drop = () => ws.terminate()
    if (socket.destroyed) return drop()
    res.assignSocket(socket)
    for (const [name, value] of Object.entries(deps.forwarder.responseHeaders(refused.headers))) {
      if (name !== 'content-length') res.setHeader(name, value)
    }
    res.writeHead(refused.statusCode ?? 502)
    refused.pipe(res)
    refused.once('end', drop)
    refused.once('error', () => {
      drop()
      res.destroy()
    })
  }

  async function handshake(
    req: IncomingMessage,
    socket: Socket,
    head: Buffer,
    res: ServerResponse,
    api: ApiApp,
    target: () => ApiTarget,
  ): Promise<void> {
    if (deps.isDraining()) {
      throw shuttingDown()
    }
    const key = req.headers['sec-websocket-key']
    if (
      req.method !== 'GET' ||
      req.headers.upgrade?.toLowerCase() !== 'websocket' ||
      !key ||
      !WEBSOCKET_KEY.test(key) ||
      !['8', '13'].includes(req.headers['sec-websocket-version'] ?? '')
    ) {
      throw new KeywardError(
        'invalid_request',
        'Not a WebSocket handshake (RFC 6455: GET, Upgrade: websocket, Sec-WebSocket-Key, Sec-WebSocket-Version: 13).',
      )
    }
    const { name, pathAndQuery } = target()
    const upstream = access.upstream(api.app, name, 'GET', res)
    const policy = upstream.websocket
    if (!policy) throw new KeywardError('method_not_allowed', `WebSockets are not forwarded to ${name}.`)
    const me = await api.caller(req, res, { changing: false, websocket: true, optional: upstream.anonymous })
    const session = me && (await access.admitted(me.session, upstream, api.app))
    const release = reserve(session, name, policy)
    try {
      const headers: IncomingMessage['headers'] = { ...req.headers }
      for (const h of HANDSHAKE) delete headers[h]
      const { publicUrl } = api.app
      const call = {
        headers,
        cookie: otherCookies(req.headers.cookie, api.cookies),
        forwardedFor: forwardedFor(publicUrl, deps.clientIp(req)),
        requestId: requestContext.getStore()?.requestId,
      }
      const protocols = (req.headers['sec-websocket-protocol'] ?? '')
        .split(',')
        .map((p) => p.trim())
        .filter(Boolean)
      const httpUrl = upstreamUrl(upstream, pathAndQuery)
      const { credential } = await access.credential(api.app, name, upstream, session, false)
      const { accessToken, dpopKey } = credential
      const upstreamHeaders = outgoingHeaders({ ...call, accessToken, dpopKey })
      // The handshake is the GET a DPoP proof speaks of (no upstream nonce is learnt here).
      if (accessToken && dpopKey)
        upstreamHeaders.dpop = await dpopProof(dpopKey, { method: 'GET', url: httpUrl, accessToken })
      const up = await connect(httpUrl.replace(/^http/, 'ws'), protocols, upstreamHeaders, upstream)
      if (up.refused) {
        release()
        return passRefusal(up.refused, up.ws, socket, res)
      }
      const upstreamSide = up.ws
      if (socket.destroyed) {
        upstreamSide.terminate()
        return release()
      }
      // The client's handshake completes with what the upstream chose, and keyward's headers.
      const cookies = res.getHeader('set-cookie')
      handshakes.set(req, {
        protocol: upstreamSide.protocol || undefined,
        headers: [
          ...(call.requestId ? [`X-Request-Id: ${call.requestId}`] : []),
          ...[cookies ?? []].flat().map((c) => `Set-Cookie: ${String(c)}`),
        ],
      })
      // ws answers a handshake it cannot take (say, a bad subprotocol list) itself, and then never calls back.
      const abandoned = () => {
        upstreamSide.terminate()
        release()
      }
      socket.once('close', abandoned)
      serverFor(policy.maxMessageBytes).handleUpgrade(req, socket, head, (clientSide) => {
        socket.off('close', abandoned)
        const close = joinSockets(deps, {
          name,
          policy,
          client: clientSide,
          upstream: upstreamSide,
          sessionId: session?.id,
          accessToken: credential.accessToken,
          release: () => {
            open.delete(close)
            release()
          },
        })
        open.add(close)
      })
    } catch (err) {
      release()
      throw err
    }
  }

  return {
    /** A Node server's `upgrade` listener for an API path of `api`. */
    upgrade(req: IncomingMessage, duplex: Duplex, head: Buffer, api: ApiApp, target: () => ApiTarget): void {
      const socket = duplex as Socket // what a Node server hands its `upgrade` listeners
      socket.on('error', () => undefined) // a client gone mid-handshake: nothing to tell it
      const res = answerer(req, socket)
      handshake(req, socket, head, res, api, target).catch((err: unknown) => refuse(req, socket, res, err))
    },

    /** Refuses a handshake nothing serves (not under `/api/`, or another host). */
    refuse(req: IncomingMessage, duplex: Duplex, err: unknown): void {
      const socket = duplex as Socket
      socket.on('error', () => undefined)
      refuse(req, socket, answerer(req, socket), err)
    },

    /** Sockets open now. */
    get size(): number {
      return open.size
    },

    /** Closes every socket (1001): on shutdown, clients reconnect to another instance. */
    closeAll(): void {
      for (const close of [...open]) close(CLOSE_CODES.goingAway, 'shutting_down', 'keyward is shutting down')
    },
  }
}

export type WebSocketProxy = ReturnType<typeof createWebSocketProxy>
