import { idleExtension, type TokenSession } from '../domain/token-session'
import { errorFields, type Logger } from '../log'
import type { TokenSessionStore } from '../store/token-sessions'

/**
 * Keycloak counts its SSO Session Idle from the last grant of any client in the user session, so
 * where keyward ends online sessions at that idle (SSO_SESSION_IDLE_SECONDS), a grant for one app
 * (login, refresh, step-up, handoff) moves the end of the other online sessions of the same `sid`:
 * an app left unused while a sibling is used is not ended before Keycloak would end it.
 */
export function createSharedIdle(deps: {
  tokenSessions: () => Pick<TokenSessionStore, 'listBySid' | 'extendIdle'>
  log: Logger
}) {
  return async function shareActivity(written: TokenSession): Promise<void> {
    const { sid, idleEndsAt } = written
    if (!sid || idleEndsAt === undefined) return
    const store = deps.tokenSessions()
    try {
      const siblings = (await store.listBySid(sid)).filter((s) => s.id !== written.id)
      const moves = siblings.flatMap((s) => {
        const until = idleExtension(s, idleEndsAt)
        return until === undefined ? [] : [store.extendIdle(s, until)]
      })
      await Promise.all(moves)
    } catch (err) {
      // The write it follows stands; a sibling kept as it was may only end early, as before.
      deps.log.warn(
        { app: written.app, error: errorFields(err) },
        "the other apps' sessions of this Keycloak session could not be kept alive with it",
      )
    }
  }
}
