import type { NewSession } from './token-session'

/** What a started login remembers until Keycloak sends the browser back. */
export interface LoginTransaction {
  app: string
  /** When the login started (epoch ms): a Keycloak `auth_time` since then means the user signed in now. */
  startedAt: number
  codeVerifier: string
  nonce: string
  returnTo: string
  /** Asked for an offline token (`offline_access`): a session that outlives logout of the browser. */
  offline: boolean
  /** A mobile login: where the app wants its one-time code, and the app's own PKCE challenge and state. */
  mobile?: MobileLoginRequest
}

export interface MobileLoginRequest {
  redirectUri: string
  codeChallenge: string
  state?: string
}

/** A finished login, as a mobile one-time code stands for it until the app redeems the code. */
export interface MobileLogin {
  session: NewSession
  /** The login created its Keycloak session (no single sign-on), see `ownKeycloakSession`. */
  ownKeycloakSession: boolean
}

/** What a mobile code is bound to, and what redeeming it must show. */
export interface CodeBinding {
  /** The app (keyward host) the login ran on. */
  app: string
  codeChallenge: string
  redirectUri: string
}
