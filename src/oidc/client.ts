import * as oidc from 'openid-client'
import { Failure, keycloakUnavailable } from '../domain/failures'
import type { Logger } from '../log'
import { classifyError } from './classify-error'
import {
  createKeycloakConnection,
  credentialsRefused,
  LogoutCredentialsRefused,
  type ConnectionOptions,
} from './connection'
import { postAsClient } from './client-post'
import { grantsAsClient } from './dpop'
import { exchangeRefusal, serviceAccountRefusal } from './exchange-refusal'
import { payloadOf } from './grant'
import type { DPoPKey, TokenGrant } from '../domain/token-session'

export type OidcClientOptions = ConnectionOptions & {
  /** Logins pushed to Keycloak first (PAR, RFC 9126): the browser's URL holds only `client_id` and `request_uri`. */
  par?: boolean
  /**
   * Tokens bound to a key (DPoP, RFC 9449): every grant carries a proof made with the session's key, a
   * new one when it has none yet, and the grant names the key (`TokenGrant.dpopKey`).
   */
  dpop?: boolean
}

export interface LoginRequest {
  url: URL
  state: string
  nonce: string
  codeVerifier: string
}

/**
 * The only module that asks Keycloak's OIDC endpoints for anything (through openid-client; the
 * connection holds discovery and credentials). One instance per Keycloak client. Failures come out as
 * domain failures: `keycloak_unavailable` when Keycloak cannot be reached or fails, `login_refused` or
 * `session_ended` when it says no about the user's session, `client_refused` when it refuses keyward's
 * own client credentials (see `asClient`); anything else (an answer that fails validation) is a plain error.
 */
export function createOidcClient(options: OidcClientOptions, log: Logger) {
  const connection = createKeycloakConnection(options, log)
  const { configuration, asClient, keycloakFetch } = connection

  /**
   * A failed call read as Keycloak's answer: domain failures (refused credentials, an unreachable
   * Keycloak) go on as they are, a transient error becomes `keycloak_unavailable`; what is left is
   * Keycloak's refusal, or an answer that failed validation, for the caller to name.
   */
  function keycloakAnswer(err: unknown): Exclude<ReturnType<typeof classifyError>, { kind: 'transient' }> {
    if (err instanceof Failure) throw err
    const failure = classifyError(err)
    if (failure.kind === 'transient') throw keycloakUnavailable(err)
    return failure
  }

  /** A login's parameters sent to Keycloak's PAR endpoint; the URL to send the browser to. */
  async function pushed(request: Record<string, string>): Promise<URL> {
    try {
      return await asClient((cfg) => oidc.buildAuthorizationUrlWithPAR(cfg, request))
    } catch (err) {
      const failure = keycloakAnswer(err)
      const why =
        failure.kind === 'rejected'
          ? `Keycloak refused the pushed login request (${failure.error}${failure.description ? `: ${failure.description}` : ''})`
          : "Keycloak's answer to the pushed login request failed validation"
      throw new Failure('login_refused', `${why}; see Keycloak's client settings.`, { cause: err })
    }
  }

  const granted = grantsAsClient(asClient, options.dpop ?? false)
  const posting = { fetch: keycloakFetch, timeoutMs: options.timeoutSeconds * 1000 }

  return {
    start: connection.start,
    stop: connection.stop,
    isReady: connection.isReady,

    /**
     * Authorization code + PKCE (S256) + state + nonce, and `extra` parameters a login was allowed to
     * ask for; with `par`, pushed to Keycloak as the client (its credentials, as any call) first.
     */
    async startLogin(params: {
      redirectUri: string
      scope: string
      extra?: Record<string, string>
    }): Promise<LoginRequest> {
      const cfg = await configuration()
      const codeVerifier = oidc.randomPKCECodeVerifier()
      const state = oidc.randomState()
      const nonce = oidc.randomNonce()
      const request = {
        ...params.extra,
        redirect_uri: params.redirectUri,
        scope: params.scope,
        response_type: 'code',
        code_challenge: await oidc.calculatePKCECodeChallenge(codeVerifier),
        code_challenge_method: 'S256',
        state,
        nonce,
      }
      const url = options.par ? await pushed(request) : oidc.buildAuthorizationUrl(cfg, request)
      return { url, state, nonce, codeVerifier }
    },

    /** Redeems the authorization code sent to `callbackUrl`; the ID token is verified here. */
    async codeGrant(
      callbackUrl: URL,
      checks: { codeVerifier: string; state: string; nonce: string },
    ): Promise<TokenGrant> {
      try {
        return await granted(undefined, (cfg, proof) =>
          oidc.authorizationCodeGrant(
            cfg,
            callbackUrl,
            {
              pkceCodeVerifier: checks.codeVerifier,
              expectedState: checks.state,
              expectedNonce: checks.nonce,
              idTokenExpected: true,
            },
            undefined,
            proof,
          ),
        )
      } catch (err) {
        const failure = keycloakAnswer(err)
        const why =
          failure.kind === 'rejected'
            ? `Keycloak refused the code (${failure.error})`
            : "Keycloak's answer failed validation"
        throw new Failure('login_refused', `${why}; start the login again.`, { cause: err })
      }
    },

    /**
     * Ends the Keycloak user session the refresh token belongs to (Keycloak's non-browser logout),
     * which also sends back-channel logout to the session's other clients. Returns false when
     * Keycloak says the session was already gone.
     */
    async logoutAtKeycloak(refreshToken: string, dpopKey?: DPoPKey): Promise<boolean> {
      const cfg = await configuration()
      const endpoint = cfg.serverMetadata().end_session_endpoint
      if (!endpoint) throw new Error('Keycloak discovery has no end_session_endpoint')
      return asClient(async (cfg, auth) => {
        const body = new URLSearchParams({ refresh_token: refreshToken })
        const res = await postAsClient(cfg, auth, { endpoint, body, dpopKey, ...posting })
        await res.body?.cancel()
        if (res.status === 401) throw new LogoutCredentialsRefused('Keycloak refused the client credentials at logout')
        return res.ok
      })
    },

    /**
     * The refresh grant. `invalid_grant` is Keycloak's final word on the session (`session_ended`,
     * Keycloak's error as its cause); an unreachable or failing Keycloak throws `keycloak_unavailable`,
     * and refused client credentials `client_refused`: in both the session is kept. `dpopKey`: the
     * session's, which the new access token is bound to.
     */
    async refresh(refreshToken: string, dpopKey?: DPoPKey): Promise<TokenGrant> {
      try {
        return await granted(dpopKey, (cfg, proof) => oidc.refreshTokenGrant(cfg, refreshToken, undefined, proof))
      } catch (err) {
        const failure = keycloakAnswer(err)
        if (failure.kind === 'rejected' && failure.error === 'invalid_grant') {
          throw new Failure('session_ended', 'Keycloak ended this session; log in again.', { cause: err })
        }
        throw err
      }
    },

    /**
     * RFC 8693 token exchange as this client: an access token (`subjectToken`, issued to
     * `subjectClientId`, by default this client itself) for this client's own tokens in the same Keycloak user session. For a handoff,
     * an access and a refresh token; for an upstream (`audience`), an access token for that audience
     * alone. The grant's claims are the new access token's (no ID token comes with an exchange).
     * Keycloak's refusal is `exchange_refused`, naming the fix; a subject token it no longer honours
     * is `session_ended`. `dpopKey`: the key the new tokens are bound to (an upstream's token: the
     * session's own; a handoff: none, so a new one when this client binds tokens).
     */
    async exchange(
      subjectToken: string,
      params: { subjectClientId?: string; scope?: string; dpopKey?: DPoPKey } & (
        { requested: 'refresh_token' } | { requested: 'access_token'; audience: string }
      ),
    ): Promise<TokenGrant> {
      try {
        // Keycloak's `invalid_client` or `unauthorized_client` here may be its exchange policy's answer.
        const grant = await granted(
          params.dpopKey,
          (cfg, proof) =>
            oidc.genericGrantRequest(
              cfg,
              'urn:ietf:params:oauth:grant-type:token-exchange',
              {
                subject_token: subjectToken,
                subject_token_type: 'urn:ietf:params:oauth:token-type:access_token',
                requested_token_type: `urn:ietf:params:oauth:token-type:${params.requested}`,
                ...(params.scope ? { scope: params.scope } : {}),
                ...(params.requested === 'access_token' ? { audience: params.audience } : {}),
              },
              proof,
            ),
          (err) => credentialsRefused(err, true),
        )
        if (params.requested === 'refresh_token' && !grant.refreshToken) {
          throw new Error('Keycloak answered a token exchange without a refresh token')
        }
        return { ...grant, claims: payloadOf(grant.accessToken) }
      } catch (err) {
        const failure = keycloakAnswer(err)
        if (failure.kind !== 'rejected') throw err
        const refusal = exchangeRefusal(failure, {
          clientId: options.clientId,
          subjectClientId: params.subjectClientId ?? options.clientId,
        })
        throw new Failure(refusal.sessionEnded ? 'session_ended' : 'exchange_refused', refusal.message, { cause: err })
      }
    },

    /**
     * An access token for this client itself (client credentials, its service account): for upstreams
     * that take the app's own token, and calls to another keyward deployment. Kept by `clientTokens`.
     */
    async clientCredentials(): Promise<TokenGrant> {
      try {
        return await granted(
          undefined,
          (cfg, proof) => oidc.clientCredentialsGrant(cfg, undefined, proof),
          (err) => credentialsRefused(err, true),
        )
      } catch (err) {
        const failure = keycloakAnswer(err)
        if (failure.kind !== 'rejected') throw err
        throw new Failure('exchange_refused', serviceAccountRefusal(options.clientId, failure), { cause: err })
      }
    },

    /**
     * RFC 7009 revocation; Keycloak answers 200 for tokens it no longer knows. A token of a session
     * whose tokens are bound to `dpopKey` is revoked with a proof of it (Keycloak refuses it without).
     * False when Keycloak's DPoP policy refuses it (FAPI 2.0's `dpop-bind-enforcer` wants the revoked
     * token bound, and Keycloak binds no refresh token of a confidential client): the client session
     * then lives on at Keycloak until it idles out, though with the session's key gone no one can use it.
     */
    async revoke(token: string, dpopKey?: DPoPKey): Promise<boolean> {
      const cfg = await configuration()
      const endpoint = cfg.serverMetadata().revocation_endpoint
      if (!endpoint) throw new Error('Keycloak discovery has no revocation_endpoint')
      return asClient(async (cfg, auth) => {
        const body = new URLSearchParams({ token })
        const res = await postAsClient(cfg, auth, { endpoint, body, dpopKey, ...posting })
        if (res.ok) {
          await res.body?.cancel()
          return true
        }
        const answer = (await res.json().catch(() => ({}))) as { error?: string; error_description?: string }
        if (res.status === 400 && dpopKey && answer.error === 'invalid_token') return false
        if (res.status === 401)
          throw new LogoutCredentialsRefused('Keycloak refused the client credentials at revocation')
        throw new Error(
          `Keycloak refused the revocation (${answer.error ?? res.status}${answer.error_description ? `: ${answer.error_description}` : ''})`,
        )
      })
    },

    /**
     * Whether Keycloak still honours a refresh or offline token (RFC 7662 introspection, which checks
     * the token's user session, offline or online, as a refresh would, and rotates nothing).
     */
    async honours(refreshToken: string): Promise<boolean> {
      try {
        const answer = await asClient((cfg) =>
          oidc.tokenIntrospection(cfg, refreshToken, { token_type_hint: 'refresh_token' }),
        )
        return answer.active
      } catch (err) {
        keycloakAnswer(err)
        throw err
      }
    },

    /** Where the browser goes so Keycloak clears its SSO cookies and sends it back. */
    async endSessionUrl(params: { postLogoutRedirectUri: string }): Promise<URL> {
      const cfg = await configuration()
      return oidc.buildEndSessionUrl(cfg, {
        client_id: options.clientId,
        post_logout_redirect_uri: params.postLogoutRedirectUri,
      })
    },
  }
}

export type OidcClient = ReturnType<typeof createOidcClient>
