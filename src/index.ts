/**
 * keyward: a backend-for-frontend and token handler for Keycloak, as Express middleware. Browsers hold
 * a session cookie, never a token; access tokens are refreshed before they expire, exactly once per
 * session across every process, and reach the application's handlers through `req.keyward`.
 *
 * @packageDocumentation
 */
export { keyward } from './library/keyward'
export type {
  AccessTokenOptions,
  AuthLevelOptions,
  ClaimsRule,
  Keyward,
  KeywardContext,
  LoginOptions,
  RequireSessionOptions,
  SessionInfo,
  UserClaims,
} from './library/api'
export type {
  KeywardOptions,
  LoginDecision,
  LoginEvent,
  LoginParamOptions,
  RedisClientLike,
  RedisConnectionOptions,
  SiblingApp,
  UpstreamOptions,
} from './library/api-options'
export { KeywardError, type KeywardErrorCode } from './http/problem'
export { ConfigError } from './config/error'
