import type { IncomingMessage } from 'node:http'
import { KeywardError } from '../problem'

/**
 * CSRF defence for cookie-authenticated, state-changing requests: a custom header, which no form or
 * simple cross-site request can carry without a CORS preflight that keyward never grants to others,
 * and an Origin, when the browser sends one, from the app's allowlist. Throws the refusal.
 */
export function checkCsrf(req: IncomingMessage, allowedOrigins: ReadonlySet<string>): void {
  if (req.headers['x-csrf'] !== '1') throw new KeywardError('csrf_required', 'This request needs the header X-CSRF: 1.')
  const { origin } = req.headers
  if (origin !== undefined && !allowedOrigins.has(origin)) {
    throw new KeywardError(
      'origin_not_allowed',
      `Requests from origin ${JSON.stringify(origin.slice(0, 200))} are not allowed.`,
    )
  }
}

/**
 * The CSRF defence of a WebSocket handshake made with the session cookie: a browser sends no custom
 * header on one, but always its page's Origin, so the Origin must be sent and on the app's allowlist
 * (cross-site WebSocket hijacking fails here). Throws the refusal.
 */
export function checkWebSocketOrigin(req: IncomingMessage, allowedOrigins: ReadonlySet<string>): void {
  const { origin } = req.headers
  if (origin === undefined || !allowedOrigins.has(origin)) {
    throw new KeywardError(
      'origin_not_allowed',
      origin === undefined
        ? 'A WebSocket opened with the session cookie needs an Origin header.'
        : `WebSockets from origin ${JSON.stringify(origin.slice(0, 200))} are not allowed.`,
    )
  }
}
