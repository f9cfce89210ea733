import { Router, type Request, type RequestHandler } from 'express'
import type { Store } from 'express-session'
import type { AppConfig } from '../config/types'
import type { HandoffDeps } from '../sessions/handoff'
import type { KeycloakLogoutDeps } from '../sessions/keycloak-logout'
import type { LoginDeps } from '../sessions/login'
import type { SessionEndDeps } from '../sessions/session-end'
import type { CallerOf } from './caller'
import { adminRoutes } from './routes/admin'
import { backchannelLogoutRoute } from './routes/backchannel-logout'
import { callbackRoute } from './routes/callback'
import { handoffCompleteRoute, handoffRedeemRoute, handoffStartRoute } from './routes/handoff'
import { jwksRoute } from './routes/jwks'
import { loginRoute } from './routes/login'
import { logoutRoute } from './routes/logout'
import { revokeRoute } from './routes/revoke'
import { sessionRoute } from './routes/session'
import { sessionsRoutes } from './routes/sessions'
import { tokenRoute } from './routes/token'

/** What one app's routes use: its config, how its callers are found, and the use cases' dependencies. */
export interface AppRoutesDeps {
  app: AppConfig
  /** Every app of the configuration, by id (handoff targets and sources). */
  apps: ReadonlyMap<string, AppConfig>
  caller: CallerOf
  login: LoginDeps
  ends: SessionEndDeps
  handoff: HandoffDeps
  keycloakLogout: KeycloakLogoutDeps
  /** The client a service account's token (another deployment's) was issued to; undefined if it is none. */
  serviceClientOf: (token: string) => Promise<string | undefined>
  /** Who the admin presenting a token is (see `adminRoutes`). */
  adminOf: (token: string, clientId: string, role: string) => Promise<string>
  /** ADMIN_ROLE: the role of the app's client an admin's token carries. */
  adminRole: string
  cookieSessionStore: Store
  secrets: string[]
  loginTxTtlSeconds: number
  /** Throws 429 when this client address starts logins faster than LOGIN_RATE_LIMIT. */
  admitLogin: (req: Request) => Promise<void>
}

const noStore: RequestHandler = (_req, res, next) => {
  res.setHeader('Cache-Control', 'no-store')
  next()
}

/**
 * One app's routes (one origin, one Keycloak client), under its `authPath` (`/auth`) and `admin`
 * (`/admin` on the server); the table of what keyward answers. Each route parses, calls a use case in
 * sessions/, and answers. The API proxy is not here: the server answers it before Express, the
 * middleware mounts it where the host application says (`kw.proxy`). Back-channel logout is not here
 * either: the server answers it on every host (`backchannelRoute`).
 */
export function authRoutes(deps: AppRoutesDeps, admin: string): Router {
  const p = deps.app.authPath
  const router = Router()
  // The client's public keys, for Keycloak (private_key_jwt): cacheable, so before no-store.
  if (deps.app.clientAuth === 'private_key_jwt') router.get(`${p}/jwks`, jwksRoute(deps))
  return router
    .use([p, admin], noStore)
    .get(`${p}/login`, loginRoute(deps)) // start a login (browser or mobile)
    .get(`${p}/callback`, ...callbackRoute(deps)) // Keycloak's redirect back: a new session
    .post(`${p}/token`, ...tokenRoute(deps)) // mobile: one-time code + PKCE verifier → handle
    .get(`${p}/session`, sessionRoute(deps)) // who is logged in, and until when
    .post(`${p}/logout`, logoutRoute(deps)) // end the session here and at Keycloak
    .post(`${p}/revoke`, revokeRoute(deps)) // revoke this session's token at Keycloak
    .post(`${p}/handoff`, ...handoffStartRoute(deps)) // hand this session to a sibling app: a one-time URL
    .get(`${p}/handoff/complete`, ...handoffCompleteRoute(deps)) // on the sibling: the code → its own session
    .post(`${p}/handoff/redeem`, ...handoffRedeemRoute(deps)) // another deployment: the code → its subject token
    .use(sessionsRoutes(deps, `${p}/sessions`)) // the user's sessions and devices; revoke one or all
    .use(adminRoutes(deps, admin)) // an admin (Keycloak token with ADMIN_ROLE): a user's sessions; log out, revoke
}

/**
 * POST <authPath>/backchannel-logout: Keycloak's back-channel logout for the clients of `clientIds`
 * (the token's audience names the app). The server answers it on every host, as Keycloak may reach it
 * on an internal name that is no app's (BACKCHANNEL_LOGOUT_URL).
 */
export function backchannelRoute(path: string, clientIds: string[], keycloakLogout: KeycloakLogoutDeps): Router {
  return Router().post(path, noStore, ...backchannelLogoutRoute({ clientIds, keycloakLogout }))
}
