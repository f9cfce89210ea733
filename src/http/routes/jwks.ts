import type { RequestHandler } from 'express'
import type { AppConfig } from '../../config/types'

/**
 * GET /auth/jwks — the public keys of a private_key_jwt client, for the client's "JWKS URL" at
 * Keycloak: both of a rotation's, so that Keycloak knows the next key before keyward signs with it.
 * Keycloak fetches them again when an assertion names a `kid` it has not seen.
 */
export function jwksRoute(deps: { app: AppConfig }): RequestHandler {
  const body = JSON.stringify({ keys: deps.app.clientKeys.map((k) => k.publicJwk) })
  return function publishKeys(_req, res) {
    res.setHeader('Cache-Control', 'public, max-age=300')
    res.type('application/jwk-set+json').send(body)
  }
}
