/**
 * keyward: a backend-for-frontend and token handler for Keycloak, as Express middleware. Browsers hold
 * a session cookie, never a token; access tokens are refreshed before they expire, exactly once per
 * session across every process, and reach the application's handlers through `req.keyward`.
 *
 * @packageDocumentation
 */
export { keyward, type Keyward } from './library/keyward'
export type { KeywardOptions, RedisConnectionOptions, UpstreamOptions } from './library/options'
export type { AccessTokenOptions, KeywardContext, SessionInfo, UserClaims } from './library/context'
export type { ClaimsRule, RequireSessionOptions } from './library/guards'
export { KeywardError, type KeywardErrorCode } from './http/problem'
export { ConfigError } from './config/build'
