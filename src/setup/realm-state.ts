/**
 * What the doctor and the setup command read of a realm: only the settings keyward depends on, as
 * plain data (admin-api.ts reads them; checks.ts judges them without any I/O).
 */
export interface ClientState {
  /** Keycloak's internal id. */
  id: string
  clientId: string
  enabled: boolean
  publicClient: boolean
  standardFlowEnabled: boolean
  /** Keycloak sends a client front-channel logout (through the browser) instead of back-channel when on. */
  frontchannelLogout: boolean
  serviceAccountsEnabled: boolean
  rootUrl?: string
  redirectUris: string[]
  attributes: Record<string, string>
  /** Client ids an Audience mapper puts into its access tokens (its own mappers and its default scopes'). */
  audiences: string[]
  /** realm-management roles its service account holds, composites included. */
  serviceAccountRoles: string[]
  /** Whether the secret keyward is configured with is the client's; undefined when it could not be read. */
  secretMatches?: boolean
  /** How Keycloak authenticates the client: `client-secret`, `client-jwt` (a signed assertion), … */
  clientAuthenticatorType: string
  /**
   * The `kid`s of the keys Keycloak verifies the client's assertions with: those registered on the
   * client, or those its JWKS URL serves the doctor; undefined when neither could be read.
   */
  jwksKids?: string[]
}

export interface RealmSettings {
  accessTokenLifespan: number
  ssoSessionIdleTimeout: number
  ssoSessionMaxLifespan: number
  clientSessionIdleTimeout: number
  clientSessionMaxLifespan: number
  revokeRefreshToken: boolean
  refreshTokenMaxReuse: number
}

export interface RealmState {
  realm: string
  settings: RealmSettings
  /** By client id; absent: no such client. */
  clients: ReadonlyMap<string, ClientState>
  /** Which of the upstreams' audiences are clients of the realm. */
  audienceClients: ReadonlySet<string>
  /** Whether the server runs the legacy token exchange (feature token-exchange); undefined if unknown. */
  legacyExchange?: boolean
  /** The server's version (`26.4.0`); undefined when the admin may not read it (server info). */
  keycloakVersion?: string
}

/** The client attributes that have Keycloak fetch the keys it verifies a client's assertions with. */
export const USE_JWKS_URL = 'use.jwks.url'
export const JWKS_URL = 'jwks.url'

/** The client attributes of back-channel logout: where Keycloak posts, and whether it names the session (`sid`). */
export const BACKCHANNEL_LOGOUT_URL = 'backchannel.logout.url'
export const BACKCHANNEL_LOGOUT_SESSION = 'backchannel.logout.session.required'
/** The client refuses every login not pushed to its PAR endpoint first (RFC 9126). */
export const REQUIRE_PAR = 'require.pushed.authorization.requests'
/** The client refuses every grant without a DPoP proof, and binds its tokens to the proof's key (RFC 9449). */
export const REQUIRE_DPOP = 'dpop.bound.access.tokens'

/** A change the setup command can make. */
export type Change =
  | {
      kind: 'create-client'
      clientId: string
      secret: string
      redirectUri: string
      postLogoutUri: string
      backchannelLogoutUrl: string
      /** private_key_jwt: no secret; Keycloak verifies assertions with the keys keyward serves here. */
      jwksUrl?: string
      /** keyward pushes its logins (PAR): the client requires it of every login. */
      requirePar?: boolean
      /** keyward binds its tokens (DPoP): the client requires a proof with every grant. */
      requireDpop?: boolean
    }
  | {
      kind: 'set-client'
      clientId: string
      fields: {
        publicClient?: false
        secret?: string
        standardFlowEnabled?: true
        serviceAccountsEnabled?: true
        frontchannelLogout?: false
        clientAuthenticatorType?: 'client-jwt'
      }
    }
  | { kind: 'set-attributes'; clientId: string; attributes: Record<string, string> }
  | { kind: 'add-redirect-uri'; clientId: string; uri: string }
  | { kind: 'add-audience'; clientId: string; audience: string }
