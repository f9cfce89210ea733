import type { RequestHandler } from 'express'
import type { AppConfig } from '../../config/load'

/**
 * CORS for the further origins in ALLOWED_ORIGINS: their pages may call this app's routes with the
 * user's cookie and the X-CSRF header, and read the answers. (The cookie travels only between
 * same-site origins, e.g. subdomains: it is SameSite.) A preflight from one of them is answered here;
 * any other origin's request goes on to the CSRF check, which refuses it, and gets no CORS headers.
 */
export function corsForAllowedOrigins(app: AppConfig): RequestHandler {
  const others = new Set([...app.allowedOrigins].filter((o) => o !== app.publicUrl.origin))
  return function allowListedOrigins(req, res, next) {
    const origin = req.get('origin')
    if (origin === undefined || !others.has(origin)) return next()
    res.vary('Origin')
    res.set({ 'Access-Control-Allow-Origin': origin, 'Access-Control-Allow-Credentials': 'true', 'Access-Control-Expose-Headers': 'Retry-After' })
    if (req.method !== 'OPTIONS' || !req.get('access-control-request-method')) return next()
    res
      .set({
        'Access-Control-Allow-Methods': 'GET, HEAD, POST, PUT, PATCH, DELETE',
        // A trusted origin may send what its API calls need (X-CSRF, Content-Type, its own headers).
        'Access-Control-Allow-Headers': req.get('access-control-request-headers') ?? 'X-CSRF',
        'Access-Control-Max-Age': '600',
      })
      .status(204)
      .end()
  }
}
