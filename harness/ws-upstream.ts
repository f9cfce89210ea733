import { createServer, type IncomingMessage, type Server } from 'node:http'
import type { Duplex } from 'node:stream'
import { createRemoteJWKSet, jwtVerify, type JWTPayload } from 'jose'
import { WebSocketServer, type WebSocket } from 'ws'
import { keycloakUrl } from './keyward'

/** One handshake the upstream took: what it saw, and its side of the socket. */
export interface SeenSocket {
  url: string
  headers: IncomingMessage['headers']
  claims?: JWTPayload
  protocol: string
  socket: WebSocket
  /** How it ended, as the upstream saw it. */
  closed: Promise<{ code: number; reason: string }>
}

/**
 * A real WebSocket server (the `ws` package) behind keyward: it verifies the Bearer token of each
 * handshake against Keycloak's JWKS, as a real API would (401 without one, or for one `rejectToken`
 * refuses), speaks the subprotocol `chat.v1` when offered, and echoes every message as it came (text
 * or binary), unless `echo` is off.
 */
export class WsUpstream {
  readonly seen: SeenSocket[] = []
  /** Refuse tokens for which this says true (401). */
  rejectToken: (claims: JWTPayload) => boolean = () => false
  echo = true

  private constructor(
    private readonly server: Server,
    private readonly wss: WebSocketServer,
    readonly url: string,
  ) {}

  static async start(realm = 'keyward'): Promise<WsUpstream> {
    const issuer = `${keycloakUrl()}/realms/${realm}`
    const jwks = createRemoteJWKSet(new URL(`${issuer}/protocol/openid-connect/certs`))
    const wss = new WebSocketServer({
      noServer: true,
      maxPayload: 64 * 2 ** 20,
      handleProtocols: (offered) => (offered.has('chat.v1') ? 'chat.v1' : false),
    })
    const server = createServer((_req, res) => res.writeHead(426).end())
    let upstream!: WsUpstream
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      void (async () => {
        const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1]
        let claims: JWTPayload | undefined
        if (!req.url?.includes('/public/')) {
          try {
            claims = (await jwtVerify(token ?? '', jwks, { issuer })).payload
            if (upstream.rejectToken(claims)) throw new Error('refused')
          } catch {
            socket.end(
              'HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Bearer error="invalid_token"\r\nContent-Length: 0\r\n\r\n',
            )
            return
          }
        }
        wss.handleUpgrade(req, socket, head, (ws) => {
          const closed = new Promise<{ code: number; reason: string }>((resolve) =>
            ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })),
          )
          upstream.seen.push({ url: req.url!, headers: req.headers, claims, protocol: ws.protocol, socket: ws, closed })
          ws.on('message', (data, isBinary) => {
            if (upstream.echo) ws.send(data, { binary: isBinary })
          })
          ws.on('error', () => undefined)
        })
      })()
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const { port } = server.address() as { port: number }
    upstream = new WsUpstream(server, wss, `http://127.0.0.1:${port}`)
    return upstream
  }

  /** Sockets open now. */
  get open(): SeenSocket[] {
    return this.seen.filter((s) => s.socket.readyState === s.socket.OPEN)
  }

  async close(): Promise<void> {
    for (const s of this.seen) s.socket.terminate()
    this.wss.close()
    this.server.closeAllConnections()
    await new Promise<void>((resolve) => this.server.close(() => resolve()))
  }
}
