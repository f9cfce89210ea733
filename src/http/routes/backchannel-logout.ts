import express, { type RequestHandler } from 'express'
import { Failure, isFailure } from '../../domain/failures'
import { honourLogoutToken, type KeycloakLogoutDeps } from '../../sessions/keycloak-logout'

/**
 * POST /auth/backchannel-logout — Keycloak's back-channel logout (OpenID Connect Back-Channel Logout
 * 1.0): form field `logout_token`, for the client of one of the apps served (`clientIds`). 200 once the
 * sessions it names are ended;
 * 400 with a JSON `error` for a token that fails any check (nothing changes then), as the spec says.
 * Keycloak calls it server to server: no cookie, no CSRF header, no CORS.
 */
export function backchannelLogoutRoute(deps: {
  clientIds: string[]
  keycloakLogout: KeycloakLogoutDeps
}): RequestHandler[] {
  return [
    express.urlencoded({ extended: false, limit: '16kb' }),
    async function backchannelLogout(req, res) {
      const token = (req.body as Record<string, unknown> | undefined)?.logout_token
      const { metrics, log } = deps.keycloakLogout
      try {
        if (typeof token !== 'string' || !token) {
          throw new Failure('logout_token_refused', 'The form field logout_token is missing.')
        }
        await honourLogoutToken(deps.keycloakLogout, token, deps.clientIds)
      } catch (err) {
        const refused = isFailure(err, 'logout_token_refused')
        metrics.backchannelLogout(refused ? 'refused' : 'failed')
        if (!refused) throw err
        log.warn({ reason: err.message }, 'logout token refused')
        res.status(400).json({ error: 'invalid_request', error_description: err.message })
        return
      }
      metrics.backchannelLogout('honoured')
      res.status(200).end()
    },
  ]
}
