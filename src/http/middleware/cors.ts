import type { IncomingMessage, ServerResponse } from 'node:http'
import type { RequestHandler } from 'express'
import type { AppConfig } from '../../config/types'

/**
 * CORS for the further origins in ALLOWED_ORIGINS: their pages may call this app's routes with the
 * user's cookie and the X-CSRF header, and read the answers. (The cookie travels only between
 * same-site origins, e.g. subdomains: it is SameSite.) A preflight from one of them is answered here
 * (true: the answer is sent); any other origin's request goes on to the CSRF check, which refuses it,
 * and gets no CORS headers.
 */
export function corsFor(app: AppConfig): (req: IncomingMessage, res: ServerResponse) => boolean {
  const others = new Set([...app.allowedOrigins].filter((o) => o !== app.publicUrl.origin))
  return function allowListedOrigins(req, res) {
    const { origin } = req.headers
    if (origin === undefined || !others.has(origin)) return false
    const vary = res.getHeader('vary')
    res.setHeader('Vary', vary ? `${String(vary)}, Origin` : 'Origin')
    res.setHeader('Access-Control-Allow-Origin', origin)
    res.setHeader('Access-Control-Allow-Credentials', 'true')
    res.setHeader('Access-Control-Expose-Headers', 'Retry-After')
    if (req.method !== 'OPTIONS' || !req.headers['access-control-request-method']) return false
    res.setHeader('Access-Control-Allow-Methods', 'GET, HEAD, POST, PUT, PATCH, DELETE')
    // A trusted origin may send what its API calls need (X-CSRF, Content-Type, its own headers).
    res.setHeader('Access-Control-Allow-Headers', req.headers['access-control-request-headers'] ?? 'X-CSRF')
    res.setHeader('Access-Control-Max-Age', '600')
    res.statusCode = 204
    res.end()
    return true
  }
}

/** `corsFor`'s answer as Express middleware, for the routes Express serves (the API proxy uses it as it is). */
export function corsMiddleware(cors: ReturnType<typeof corsFor>): RequestHandler {
  return function allowListedOriginsMiddleware(req, res, next) {
    if (!cors(req, res)) next()
  }
}
