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
