import { Router } from 'express'

type Up = 'up' | 'down'

export interface ReadinessChecks {
  /** Redis answers; with its topology's own state besides (store/redis.ts `redisState`). */
  redis: () => Promise<{ status: Up } & Record<string, unknown>>
  /** Keycloak discovery is loaded for every app. */
  keycloak: () => boolean
  /** The realm's signing keys: reported, not required (oidc/realm-keys.ts `keysState`). */
  jwks: () => { status: 'loaded' | 'not_loaded' } & Record<string, unknown>
}

/**
 * GET /healthz (the process answers) and GET /readyz: ready when Redis takes commands and Keycloak
 * discovery is loaded, with what the probe saw of Redis's topology and of the realm's keys.
 */
export function healthRoutes(checks: ReadinessChecks): Router {
  return Router()
    .get('/healthz', (_req, res) => {
      res.set('Cache-Control', 'no-store').json({ status: 'ok' })
    })
    .get('/readyz', async (_req, res) => {
      const { status: redisUp, ...redis } = await checks.redis()
      const keycloak: Up = checks.keycloak() ? 'up' : 'down'
      const { status: jwksLoaded, ...jwks } = checks.jwks()
      const ready = redisUp === 'up' && keycloak === 'up'
      res
        .status(ready ? 200 : 503)
        .set('Cache-Control', 'no-store')
        .json({
          status: ready ? 'ready' : 'not_ready',
          checks: { redis: redisUp, keycloak, jwks: jwksLoaded },
          redis,
          jwks,
        })
    })
}
