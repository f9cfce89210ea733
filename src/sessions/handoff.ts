import type { Lifetimes, SessionCaps } from '../config/types'
import { decodeJwt } from 'jose'
import { Failure, isFailure } from '../domain/failures'
import type { Metrics } from '../domain/metrics'
import { HANDLE_PREFIX, randomOpaque, s256, sessionIdOf } from '../domain/opaque'
import { newSession, openedBy, type NewSession, type TokenSession } from '../domain/token-session'
import type { Logger } from '../log'
import type { OidcClient } from '../oidc/client'
import type { HandoffPeer } from '../peer/handoff-peer'
import type { Handoff, HandoffCodeStore } from '../store/handoff-codes'
import type { TokenSessionStore } from '../store/token-sessions'
import { keepNewSession, redeemMobileCode, type LoginDeps } from './login'
import { retireReplaced } from './replaced'
import { applyLoginHook } from './login-hook'
import type { TokenService } from './token-service'

/** An app as a handoff sees it. */
export interface HandoffApp {
  id: string
  clientId: string
  scopes: string
  /** The apps this one may hand its sessions to. */
  handoffTargets: ReadonlySet<string>
  /** Where a mobile app may receive a code (a handoff's too). */
  mobileRedirectUris: ReadonlySet<string>
  /** Set for an app another deployment serves: codes to and from it are redeemed between deployments. */
  remote?: { redeemUrl: URL }
  /** The path its routes are under (`/auth`), there as here. */
  authPath: string
}

export interface HandoffDeps {
  handoffCodes: HandoffCodeStore
  tokenSessions: TokenSessionStore
  tokens: Pick<TokenService, 'freshAccessToken'>
  oidcFor: (app: string) => OidcClient
  apps: ReadonlyMap<string, HandoffApp>
  /** Other deployments, for codes they made. */
  peer: Pick<HandoffPeer, 'redeem'>
  /** How long a handoff code may wait to be redeemed (at most 60 seconds). */
  codeTtlSeconds: number
  lifetimes: Lifetimes
  caps: SessionCaps
  metrics: Pick<Metrics, 'sessionCreated' | 'sessionEnded' | 'handoff'>
  log: Logger
  now: () => number
  /** The application's login hook, which a session handed over goes through as a login does. */
  onLogin?: LoginDeps['onLogin']
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
  deps: Pick<HandoffDeps, 'handoffCodes' | 'apps' | 'metrics' | 'log'>,
  source: TokenSession,
  request: { target: string; returnTo: string; mobile?: Handoff['mobile'] },
): Promise<string> {
  mayHandTo(deps.apps.get(source.app), request.target)
  if (request.mobile && !deps.apps.get(request.target)!.mobileRedirectUris.has(request.mobile.redirectUri)) {
    throw new Failure(
      'handoff_not_allowed',
      `redirect_uri is not one of the redirect URIs of app ${JSON.stringify(request.target)}.`,
    )
  }
  if (source.kind !== 'online') {
    throw new Failure(
      'handoff_not_allowed',
      'A remembered (offline) session cannot be handed over: Keycloak exchanges tokens for a refresh ' +
        'token only within an online session. Log in without "remember me" to hand the session over.',
    )
  }
  if (source.tokens.dpopKey) {
    throw new Failure(
      'handoff_not_allowed',
      "This session's tokens are bound to its key (DPoP), and Keycloak exchanges a sender-constrained " +
        'token for no other client. Log in to the other app instead (single sign-on makes that quick).',
    )
  }
  const code = randomOpaque()
  await deps.handoffCodes.create(code, {
    sourceId: source.id,
    target: request.target,
    returnTo: request.returnTo,
    mobile: request.mobile,
  })
  deps.metrics.handoff('started')
  deps.log.info({ app: source.app, sub: source.sub, target: request.target }, 'handoff started')
  return code
}

/** What a handoff exchanges: the source session's access token, and where it came from. */
interface Subject {
  token: string
  /** The client it was issued to. */
  clientId: string
  sourceApp: string
  /** The source session, when it is kept here. */
  sourceId?: string
  returnTo: string
}

/** A code made here: the source session's access token, fresh through the refresh engine. */
async function localSubject(deps: HandoffDeps, handoff: Handoff, app: string): Promise<Subject> {
  const source = await deps.tokenSessions.get(handoff.sourceId)
  if (!source) throw new Failure('session_ended', 'The session to hand over has ended; log in again.')
  const from = deps.apps.get(source.app)
  mayHandTo(from, app) // the configuration may have changed since the code was made
  if (from.remote) throw invalidCode() // its own deployment refreshes it: it is asked (`from`), not read here
  const token = await deps.tokens.freshAccessToken(source)
  return { token, clientId: from.clientId, sourceApp: source.app, sourceId: source.id, returnTo: handoff.returnTo }
}

/**
 * The subject of the code shown to `app`: when the code comes from an app another deployment serves
 * (`from`, which may hand sessions to this one), asked of that deployment, which alone can refresh the
 * source session (and takes the code itself, in its Redis or in one both share); else taken here.
 */
async function subjectOf(
  deps: HandoffDeps,
  request: { app: string; code: string; from?: string; proof?: Handoff['mobile'] },
): Promise<Subject> {
  const from = request.from === undefined ? undefined : deps.apps.get(request.from)
  if (from?.remote && !request.proof) {
    mayHandTo(from, request.app)
    const { subjectToken, returnTo } = await deps.peer.redeem(from, request.app, request.code)
    return { token: subjectToken, clientId: from.clientId, sourceApp: from.id, returnTo }
  }
  const taken = await deps.handoffCodes.take(request.code, request.app, request.proof)
  if (!taken.ok) throw invalidCode()
  return localSubject(deps, taken.handoff, request.app)
}

/**
 * The handed-over session as the target's own: the subject token exchanged at Keycloak as the
 * target's client for the target's own tokens in the same Keycloak session.
 */
async function exchangeAs(
  deps: HandoffDeps,
  app: string,
  subject: Subject,
  client: 'web' | 'mobile',
): Promise<NewSession> {
  const target = deps.apps.get(app)!
  const scope = target.scopes
    .split(' ')
    .filter((s) => s && s !== 'offline_access')
    .join(' ')
  const grant = await deps
    .oidcFor(target.id)
    .exchange(subject.token, { requested: 'refresh_token', scope, subjectClientId: subject.clientId })
  const made = newSession(grant, { app: target.id, kind: 'online', now: deps.now(), lifetimes: deps.lifetimes })
  const session = await applyLoginHook(deps, made, { claims: { ...grant.claims }, client, via: 'handoff' })
  deps.metrics.handoff('completed')
  deps.log.info({ app: target.id, sub: session.sub, from: subject.sourceApp }, 'handoff completed')
  return { ...session, parentId: subject.sourceId }
}

/**
 * Another deployment redeems a code made here for its app `app`, presenting a Keycloak token of that
 * app's client (`clientId`): the subject token, for it to exchange as its own client.
 */
export async function redeemForPeer(
  deps: HandoffDeps,
  request: { code: string; app: string; clientId: string },
): Promise<{ subjectToken: string; returnTo: string }> {
  const target = deps.apps.get(request.app)
  if (!target?.remote || target.clientId !== request.clientId) {
    throw new Failure('handoff_not_allowed', 'No app of another deployment with this id and client is configured here.')
  }
  const taken = await deps.handoffCodes.take(request.code, target.id)
  if (!taken.ok) throw invalidCode()
  const subject = await localSubject(deps, taken.handoff, target.id)
  mustHoldAudience(subject, target)
  deps.metrics.handoff('redeemed_for_peer')
  deps.log.info({ app: subject.sourceApp, target: target.id }, 'handoff code redeemed by another deployment')
  return { subjectToken: subject.token, returnTo: subject.returnTo }
}

/**
 * The one access token that leaves keyward goes only to an app its audience holds: the app whose client
 * exchanges it, which Keycloak would refuse anyway ("Client is not within the token audience"). Said
 * here, with the fix, before the token travels.
 */
function mustHoldAudience(subject: Subject, target: HandoffApp): void {
  const { aud } = decodeJwt(subject.token)
  if ((Array.isArray(aud) ? aud : [aud]).includes(target.clientId)) return
  throw new Failure(
    'handoff_not_allowed',
    `The session's access token (client ${subject.clientId}) does not name ${target.clientId} in its audience, so it ` +
      `is not handed to ${target.id}; to fix: add an Audience mapper for ${target.clientId} to client ${subject.clientId} ` +
      '("Client scopes" → its dedicated scope → "Add mapper" → Audience; keyward-keycloak setup does this).',
  )
}

const invalidCode = () =>
  new Failure('code_invalid', 'The handoff code is unknown, expired, used, or meant for another app or proof.')

// The new tokens sit in the source's Keycloak session, which other sessions share: if they cannot be
// stored, they are left to end with it rather than revoked.
const notOwn = (session: NewSession) => ({ session, ownKeycloakSession: false })

/**
 * A web app redeems the code (GET /auth/handoff/complete): `keep` stores the new session behind a
 * new browser cookie. A session the browser held before in this app (`previous`) is retired as a login
 * would retire it. Nothing is created when anything fails; a code shown to the wrong app stays usable
 * by the right one.
 */
export async function completeHandoff(
  deps: HandoffDeps,
  request: { app: string; code: string; from?: string; previous?: TokenSession },
  keep: (session: NewSession) => Promise<TokenSession>,
): Promise<{ session: TokenSession; returnTo: string }> {
  const subject = await subjectOf(deps, request)
  const pending = await exchangeAs(deps, request.app, subject, 'web')
  let kept: TokenSession | undefined
  await keepNewSession(deps, notOwn(pending), async () => {
    kept = await keep(pending)
  })
  deps.metrics.sessionCreated(kept!.app, kept!.kind, 'handoff')
  if (request.previous) await retireReplaced(deps, request.previous, kept!)
  return { session: kept!, returnTo: subject.returnTo }
}

interface CodeRedemption {
  app: string
  code: string
  verifier: string
  redirectUri: string
  device: string
}

/** A mobile app redeems a handoff's code with its PKCE verifier, as it would a login's: a session handle. */
async function redeemHandoffCode(
  deps: HandoffDeps,
  request: CodeRedemption,
): Promise<{ handle: string; session: TokenSession }> {
  const proof = { codeChallenge: s256(request.verifier), redirectUri: request.redirectUri }
  const pending = await exchangeAs(deps, request.app, await subjectOf(deps, { ...request, proof }), 'mobile')
  const handle = `${HANDLE_PREFIX}${randomOpaque()}`
  const session = { ...openedBy(pending, sessionIdOf(handle), 'mobile'), device: request.device }
  await keepNewSession(deps, notOwn(pending), () => deps.tokenSessions.create(session))
  deps.metrics.sessionCreated(session.app, session.kind, 'handoff')
  return { handle, session }
}

/** POST /auth/token: the code of a mobile login, or of a handoff to this (mobile) app. */
export async function redeemCode(
  deps: { login: LoginDeps; handoff: HandoffDeps },
  request: CodeRedemption,
): Promise<{ handle: string; session: TokenSession }> {
  try {
    return await redeemMobileCode(deps.login, request)
  } catch (err) {
    if (!isFailure(err, 'code_invalid')) throw err
  }
  return redeemHandoffCode(deps.handoff, request)
}
