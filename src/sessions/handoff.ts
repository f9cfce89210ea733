import { Failure } from '../domain/failures'
import { randomOpaque } from '../domain/opaque'
import { newSession, type Lifetimes, type NewSession, type TokenSession } from '../domain/token-session'
import type { Logger } from '../log'
import type { OidcClient } from '../oidc/client'
import type { HandoffCodeStore } from '../store/handoff-codes'
import type { TokenSessionStore } from '../store/token-sessions'
import { keepNewSession, retireReplaced } from './login'
import type { TokenService } from './token-service'

/** An app as a handoff sees it. */
export interface HandoffApp {
  id: string
  clientId: string
  scopes: string
  /** The apps this one may hand its sessions to. */
  handoffTargets: ReadonlySet<string>
}

export interface HandoffDeps {
  handoffCodes: HandoffCodeStore
  tokenSessions: TokenSessionStore
  tokens: Pick<TokenService, 'freshAccessToken'>
  oidcFor: (app: string) => OidcClient
  apps: ReadonlyMap<string, HandoffApp>
  /** How long a handoff code may wait to be redeemed (at most 60 seconds). */
  codeTtlSeconds: number
  lifetimes: Lifetimes
  log: Logger
  now: () => number
}

function mayHandTo(from: HandoffApp | undefined, target: string): asserts from is HandoffApp {
  if (!from?.handoffTargets.has(target)) {
    const allowed = [...(from?.handoffTargets ?? [])].join(', ') || 'none'
    throw new Failure(
      'handoff_not_allowed',
      `This app may not hand sessions to ${JSON.stringify(target)} (its handoff targets: ${allowed}).`,
    )
  }
}

/**
 * Starts handing `source` over to the app `target`: a one-time code, bound to `target`, that the
 * target redeems once within the code's lifetime. Only an online session can be handed over:
 * Keycloak exchanges tokens for a refresh token only within an online user session.
 */
export async function startHandoff(
  deps: Pick<HandoffDeps, 'handoffCodes' | 'apps' | 'log'>,
  source: TokenSession,
  request: { target: string; returnTo: string },
): Promise<string> {
  mayHandTo(deps.apps.get(source.app), request.target)
  if (source.kind !== 'online') {
    throw new Failure(
      'handoff_not_allowed',
      'A remembered (offline) session cannot be handed over: Keycloak exchanges tokens for a refresh ' +
        'token only within an online session. Log in without "remember me" to hand the session over.',
    )
  }
  const code = randomOpaque()
  await deps.handoffCodes.create(code, { sourceId: source.id, target: request.target, returnTo: request.returnTo })
  deps.log.info({ app: source.app, sub: source.sub, target: request.target }, 'handoff started')
  return code
}

/**
 * The target app redeems the code: the source session's access token (fresh, through the refresh
 * engine) is exchanged at Keycloak as the target's client for the target's own tokens in the same
 * Keycloak session, and `keep` stores the new session behind a new credential. A session the caller
 * held before in this app (`previous`) is retired as a login would retire it. Nothing is created
 * when anything fails; a code shown to the wrong app stays usable by the right one.
 */
export async function completeHandoff(
  deps: HandoffDeps,
  request: { app: string; code: string; previous?: TokenSession },
  keep: (session: NewSession) => Promise<TokenSession>,
): Promise<{ session: TokenSession; returnTo: string }> {
  const taken = await deps.handoffCodes.take(request.code, request.app)
  if (!taken.ok) {
    throw new Failure('code_invalid', 'The handoff code is unknown, expired, used, or meant for another app.')
  }
  const { handoff } = taken
  const source = await deps.tokenSessions.get(handoff.sourceId)
  if (!source) throw new Failure('session_ended', 'The session to hand over has ended; log in again.')
  const from = deps.apps.get(source.app)
  mayHandTo(from, request.app) // the configuration may have changed since the code was made
  const target = deps.apps.get(request.app)!

  const subject = await deps.tokens.freshAccessToken(source)
  const scope = target.scopes
    .split(' ')
    .filter((s) => s && s !== 'offline_access')
    .join(' ')
  const grant = await deps.oidcFor(target.id).exchange(subject, { scope, subjectClientId: from.clientId })
  const pending: NewSession = {
    ...newSession(grant, { app: target.id, kind: 'online', now: deps.now(), lifetimes: deps.lifetimes }),
    parentId: source.id,
  }
  // The new tokens sit in the source's Keycloak session, which other sessions share: if they cannot
  // be stored, they are left to end with it rather than revoked.
  let kept: TokenSession | undefined
  await keepNewSession(deps, { session: pending, ownKeycloakSession: false }, async () => {
    kept = await keep(pending)
  })
  if (request.previous) await retireReplaced(deps, request.previous, kept!)
  deps.log.info({ app: target.id, sub: kept!.sub, from: source.app }, 'handoff completed')
  return { session: kept!, returnTo: handoff.returnTo }
}
