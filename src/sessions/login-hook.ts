import { Failure } from '../domain/failures'
import { APP_DATA_MAX_BYTES, type LoginEvent, type LoginHook } from '../domain/login'
import type { NewSession } from '../domain/token-session'
import { errorFields, type Logger } from '../log'
import type { OidcClient } from '../oidc/client'

export interface LoginHookDeps {
  oidcFor: (app: string) => Pick<OidcClient, 'revoke'>
  log: Logger
  /** The application's hook (the middleware's `onLogin`), if it has one. */
  onLogin?: LoginHook
}

/**
 * The application's hook on a new session: nothing changes without one. A refusal (or a hook that
 * throws, or data over `APP_DATA_MAX_BYTES`) revokes the refresh token Keycloak just issued, so
 * this client's session there ends too, and no keyward session is made.
 */
export async function applyLoginHook(
  deps: LoginHookDeps,
  session: NewSession,
  event: Pick<LoginEvent, 'claims' | 'client' | 'via'>,
): Promise<NewSession> {
  if (!deps.onLogin) return session
  const revoke = () =>
    session.tokens.refreshToken
      ? deps
          .oidcFor(session.app)
          .revoke(session.tokens.refreshToken, session.tokens.dpopKey)
          .catch((err: unknown) =>
            deps.log.warn(
              { app: session.app, sub: session.sub, error: errorFields(err) },
              'revoking a refused login failed',
            ),
          )
      : Promise.resolve()
  let decision
  try {
    decision = await deps.onLogin({ ...event, app: session.app, kind: session.kind })
    if (decision && 'data' in decision && Buffer.byteLength(JSON.stringify(decision.data) ?? '') > APP_DATA_MAX_BYTES) {
      throw new RangeError(`onLogin: its data takes more than ${APP_DATA_MAX_BYTES} bytes as JSON`)
    }
  } catch (err) {
    await revoke()
    // The application's fault, not the user's: a 500 (and a mobile app's `server_error`), its cause logged.
    throw new Failure('login_hook_failed', 'The application could not decide on this login.', { cause: err })
  }
  if (decision && 'refuse' in decision) {
    await revoke()
    deps.log.info({ app: session.app, sub: session.sub }, 'login refused by the application')
    throw new Failure('login_forbidden', decision.refuse || 'This application does not let you in.')
  }
  return decision && 'data' in decision ? { ...session, appData: decision.data } : session
}
