import { Router } from 'express'

export interface ReadinessChecks {
  redis: () => Promise<boolean>
  /** Keycloak discovery is loaded for every app. */
  keycloak: () => boolean
}

/** GET /healthz (the process answers) and GET /readyz (Redis answers, Keycloak discovery loaded). */
export function healthRoutes(checks: ReadinessChecks): Router {
  return Router()
    .get('/healthz', (_req, res) => {
      res.set('Cache-Control', 'no-store').json({ status: 'ok' })
    })
    .get('/readyz', async (_req, res) => {
      const [redis, keycloak] = [await checks.redis(), checks.keycloak()]
      res
        .status(redis && keycloak ? 200 : 503)
        .set('Cache-Control', 'no-store')
        .json({
          status: redis && keycloak ? 'ready' : 'not_ready',
          checks: { redis: redis ? 'up' : 'down', keycloak: keycloak ? 'up' : 'down' },
        })
    })
}
