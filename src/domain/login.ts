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
  /** A silent login (`prompt=none`): Keycloak's refusal goes back to `returnTo` as `?error=…`, not to an error page. */
  silent?: boolean
  /** Asked for a level (`acr_values`, `max_age`): the browser's session, if it is the same, is raised in place. */
  stepUp?: boolean
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

/** What the application's login hook (the middleware's `onLogin`) is told of a login. */
export interface LoginEvent {
  /** The ID token's claims, verified; for a handoff, the new access token's (an exchange brings no ID token). */
  claims: Record<string, unknown>
  app: string
  kind: 'online' | 'offline'
  client: 'web' | 'mobile'
  /** A login at Keycloak, or a session handed over from a sibling app. */
  via: 'login' | 'handoff'
}

/** The hook's answer: nothing (let it in), a refusal for people, or small data to keep with the session. */
export type LoginDecision = void | undefined | { refuse: string } | { data: Record<string, unknown> }

export type LoginHook = (login: LoginEvent) => LoginDecision | Promise<LoginDecision>

/** The most a login hook's data may take, as JSON: it is read with the session on every request. */
export const APP_DATA_MAX_BYTES = 4096
