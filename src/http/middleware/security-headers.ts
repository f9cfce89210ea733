import type { IncomingMessage, ServerResponse } from 'node:http'
import type { RequestHandler } from 'express'
import helmet from 'helmet'

/** helmet, tuned for a JSON and redirect service that may also serve an SPA's static files. */
export function securityHeaders(): RequestHandler {
  return helmet({
    contentSecurityPolicy: {
      useDefaults: false,
      directives: {
        'default-src': ["'self'"],
        'base-uri': ["'none'"],
        'object-src': ["'none'"],
        'frame-ancestors': ["'none'"],
        'form-action': ["'self'"],
      },
    },
    referrerPolicy: { policy: 'no-referrer' },
  })
}

/**
 * The headers helmet gives API answers (nothing there is a page: no script, no frame, no referrer),
 * worked out once by running helmet against a stand-in response, so the hot path only copies them.
 */
export function apiSecurityHeaders(): ReadonlyArray<readonly [string, string]> {
  const headers: [string, string][] = []
  const collect = {
    setHeader: (name: string, value: unknown) => headers.push([name, String(value)]),
    removeHeader: () => undefined,
  } as unknown as ServerResponse
  const api = helmet({
    contentSecurityPolicy: {
      useDefaults: false,
      directives: { 'default-src': ["'none'"], 'frame-ancestors': ["'none'"] },
    },
    frameguard: { action: 'deny' },
    referrerPolicy: { policy: 'no-referrer' },
  })
  api({} as IncomingMessage, collect, () => undefined)
  return headers
}
