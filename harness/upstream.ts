import { createHash } from 'node:crypto'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { createRemoteJWKSet, jwtVerify, type JWTPayload } from 'jose'
import { keycloakUrl } from './keyward'

export interface SeenRequest {
  method: string
  url: string
  headers: IncomingMessage['headers']
  claims?: JWTPayload
}

/**
 * A resource server for the proxy tests: it verifies the Bearer token against Keycloak's JWKS, as a
 * real API would, and answers what it saw (claims, method, path, headers, a digest of the body) —
 * never the token itself.
 */
export class Upstream {
  readonly seen: SeenRequest[] = []
  /** Answer 401 to tokens for which this says true (e.g. "issued before …"). */
  rejectToken: (claims: JWTPayload) => boolean = () => false
  delayMs = 0

  private constructor(
    private readonly server: Server,
    readonly url: string,
  ) {}

  static async start(realm = 'keyward', keycloak = keycloakUrl()): Promise<Upstream> {
    const issuer = `${keycloak}/realms/${realm}`
    const jwks = createRemoteJWKSet(new URL(`${issuer}/protocol/openid-connect/certs`))
    let upstream!: Upstream
    const server = createServer((req, res) => void answer(req, res))
    async function answer(req: IncomingMessage, res: ServerResponse): Promise<void> {
      const chunks: Buffer[] = []
      for await (const chunk of req) chunks.push(chunk as Buffer)
      const body = Buffer.concat(chunks)
      const seen: SeenRequest = { method: req.method!, url: req.url!, headers: req.headers }
      upstream.seen.push(seen)
      if (upstream.delayMs) await new Promise((r) => setTimeout(r, upstream.delayMs).unref())
      // A DPoP-bound token's proof is the demo API's to check (demo/dpop-check.mjs); here, the token.
      const token = /^(?:Bearer|DPoP) (.+)$/.exec(req.headers.authorization ?? '')?.[1]
      if (!req.headers.authorization && req.url?.includes('/public/')) {
        // The public part of an API: a caller without a token is answered, saying so.
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ anonymous: true }))
        return
      }
      try {
        seen.claims = (await jwtVerify(token ?? '', jwks, { issuer })).payload
      } catch {
        res.writeHead(401, { 'www-authenticate': 'Bearer error="invalid_token"' }).end()
        return
      }
      if (upstream.rejectToken(seen.claims)) {
        res.writeHead(401, { 'www-authenticate': 'Bearer error="invalid_token"' }).end()
        return
      }
      if (req.url?.endsWith('/odd-headers')) {
        // A repeated Content-Type, and a media type without a charset: both must pass through as they are.
        // And CORS headers of its own, which are keyward's business, not the upstream's.
        res
          .writeHead(200, [
            'content-type',
            'text/html',
            'content-type',
            'text/plain',
            'access-control-allow-origin',
            '*',
            'vary',
            'Accept-Encoding',
          ])
          .end('<p>odd</p>')
        return
      }
      const caching = /\/cache\/(.+)$/.exec(req.url ?? '')?.[1]
      if (caching) {
        // Answers with the Cache-Control the path names, e.g. /cache/public,max-age=60.
        res.writeHead(200, { 'cache-control': decodeURIComponent(caching) }).end('{}')
        return
      }
      if (req.url?.endsWith('/big')) {
        res.writeHead(200, { 'content-type': 'application/octet-stream' })
        for (let i = 0; i < 64; i++) res.write(Buffer.alloc(64 * 1024, i))
        res.end()
        return
      }
      // Never echoed: the token, and a DPoP proof (a JWT made for this one call).
      const { authorization: _dropped, dpop: _proof, ...headers } = req.headers
      res.writeHead(200, {
        'content-type': 'application/json',
        'set-cookie': 'upstream=1; Path=/',
        'x-upstream': 'yes',
      })
      res.end(
        JSON.stringify({
          sub: seen.claims.sub,
          azp: seen.claims.azp,
          jti: seen.claims.jti,
          method: req.method,
          url: req.url,
          headers,
          bodyLength: body.length,
          bodySha256: createHash('sha256').update(body).digest('hex'),
        }),
      )
    }
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    upstream = new Upstream(server, `http://127.0.0.1:${(server.address() as { port: number }).port}`)
    return upstream
  }

  close(): Promise<void> {
    this.server.closeAllConnections()
    return new Promise((resolve) => this.server.close(() => resolve()))
  }
}
