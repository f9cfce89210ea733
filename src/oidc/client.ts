import * as oidc from 'openid-client'
import { Failure, keycloakUnavailable } from '../domain/failures'
import type { TokenGrant } from '../domain/token-session'
import { errorFields, type Logger } from '../log'
import { classifyError } from './classify-error'
import { exchangeRefusal } from './exchange-refusal'

export interface OidcClientOptions {
  issuer: URL
  /** Keycloak's public base URL, as in the issuer… */
  keycloakUrl: URL
  /** …and, when set, the base URL keyward itself calls instead (a private network address). */
  backchannelUrl?: URL
  clientId: string
  clientSecret: string
  timeoutSeconds: number
  /** Plain-http Keycloak, for local development and tests only. */
  allowHttp: boolean
}

export interface LoginRequest {
  url: URL
  state: string
  nonce: string
  codeVerifier: string
}

/**
 * The only module that talks to openid-client (and to Keycloak's OIDC endpoints). One instance per
 * Keycloak client. Failures come out as domain failures: `keycloak_unavailable` when Keycloak cannot
 * be reached or fails, `login_refused` or `session_ended` when it says no; anything else (an answer
 * that fails validation, keyward's own credentials refused) is a plain error.
 */
export function createOidcClient(options: OidcClientOptions, log: Logger) {
  let config: oidc.Configuration | undefined
  let pending: Promise<oidc.Configuration> | undefined
  let retryTimer: NodeJS.Timeout | undefined
  let stopped = false
  const clientAuth = oidc.ClientSecretBasic(options.clientSecret)

  // Every call keyward makes to Keycloak goes through here: with a back-channel URL, the public base
  // is swapped for the private one, while the issuer (and so every token check) stays the public one.
  const publicBase = options.keycloakUrl.href.replace(/\/?$/, '/')
  const privateBase = options.backchannelUrl?.href.replace(/\/?$/, '/')
  const keycloakFetch: oidc.CustomFetch = (url, init) =>
    fetch(
      privateBase && url.startsWith(publicBase) ? privateBase + url.slice(publicBase.length) : url,
      init as RequestInit,
    )

  function discover(): Promise<oidc.Configuration> {
    pending ??= oidc
      .discovery(options.issuer, options.clientId, undefined, clientAuth, {
        [oidc.customFetch]: keycloakFetch,
        timeout: options.timeoutSeconds,
        execute: options.allowHttp ? [oidc.allowInsecureRequests] : [],
      })
      .then((loaded) => (config = loaded))
      .finally(() => (pending = undefined))
    return pending
  }

  async function configuration(): Promise<oidc.Configuration> {
    if (config) return config
    try {
      return await discover()
    } catch (err) {
      throw keycloakUnavailable(err)
    }
  }

  function toGrant(res: oidc.TokenEndpointResponse & oidc.TokenEndpointResponseHelpers): TokenGrant {
    const refreshExpiresIn = res.refresh_expires_in
    return {
      accessToken: res.access_token,
      refreshToken: res.refresh_token,
      expiresIn: res.expires_in ?? 60,
      refreshExpiresIn: typeof refreshExpiresIn === 'number' ? refreshExpiresIn : undefined,
      claims: res.claims(),
      scope: res.scope,
    }
  }

  /** The payload of a JWT Keycloak has just issued to this client over the back channel. */
  function payloadOf(jwt: string): Record<string, unknown> {
    const payload: unknown = JSON.parse(Buffer.from(jwt.split('.')[1] ?? '', 'base64url').toString('utf8'))
    if (typeof payload !== 'object' || payload === null)
      throw new Error('Keycloak issued an access token that is no JWT')
    return payload as Record<string, unknown>
  }

  let serviceToken: { value: string; until: number } | undefined

  return {
    /** Loads discovery in the background, retrying with backoff, so keyward starts even before Keycloak. */
    start(): void {
      let delayMs = 500
      const attempt = (): void => {
        discover().then(
          () => log.info({ issuer: options.issuer.href, clientId: options.clientId }, 'Keycloak discovery loaded'),
          (err: unknown) => {
            if (stopped) return
            log.warn({ error: errorFields(err), retryInMs: delayMs }, 'Keycloak discovery failed')
            retryTimer = setTimeout(attempt, delayMs)
            delayMs = Math.min(delayMs * 2, 30_000)
          },
        )
      }
      attempt()
    },

    stop(): void {
      stopped = true
      clearTimeout(retryTimer)
    },

    isReady: (): boolean => config !== undefined,

    /** Authorization code + PKCE (S256) + state + nonce. */
    async startLogin(params: { redirectUri: string; scope: string }): Promise<LoginRequest> {
      const cfg = await configuration()
      const codeVerifier = oidc.randomPKCECodeVerifier()
      const state = oidc.randomState()
      const nonce = oidc.randomNonce()
      const url = oidc.buildAuthorizationUrl(cfg, {
        redirect_uri: params.redirectUri,
        scope: params.scope,
        response_type: 'code',
        code_challenge: await oidc.calculatePKCECodeChallenge(codeVerifier),
        code_challenge_method: 'S256',
        state,
        nonce,
      })
      return { url, state, nonce, codeVerifier }
    },

    /** Redeems the authorization code sent to `callbackUrl`; the ID token is verified here. */
    async codeGrant(
      callbackUrl: URL,
      checks: { codeVerifier: string; state: string; nonce: string },
    ): Promise<TokenGrant> {
      const cfg = await configuration()
      try {
        return toGrant(
          await oidc.authorizationCodeGrant(cfg, callbackUrl, {
            pkceCodeVerifier: checks.codeVerifier,
            expectedState: checks.state,
            expectedNonce: checks.nonce,
            idTokenExpected: true,
          }),
        )
      } catch (err) {
        const failure = classifyError(err)
        if (failure.kind === 'transient') throw keycloakUnavailable(err)
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
    async logoutAtKeycloak(refreshToken: string): Promise<boolean> {
      const cfg = await configuration()
      const endpoint = cfg.serverMetadata().end_session_endpoint
      if (!endpoint) throw new Error('Keycloak discovery has no end_session_endpoint')
      const basic = Buffer.from(
        `${encodeURIComponent(options.clientId)}:${encodeURIComponent(options.clientSecret)}`,
      ).toString('base64')
      let res: Response
      try {
        res = await keycloakFetch(endpoint, {
          method: 'POST',
          headers: { authorization: `Basic ${basic}`, 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({ refresh_token: refreshToken }),
          redirect: 'manual',
          signal: AbortSignal.timeout(options.timeoutSeconds * 1000),
        })
      } catch (err) {
        throw keycloakUnavailable(err)
      }
      await res.body?.cancel()
      if (res.status >= 500) throw keycloakUnavailable(new Error(`Keycloak logout answered ${res.status}`))
      if (res.status === 401) throw new Error('Keycloak refused keyward’s client credentials at logout')
      return res.ok
    },

    /**
     * The refresh grant. `invalid_grant` and `invalid_client` are Keycloak's final word on the session
     * (`session_ended`, Keycloak's error as its cause); an unreachable or failing Keycloak throws
     * `keycloak_unavailable`, and the session is kept.
     */
    async refresh(refreshToken: string): Promise<TokenGrant> {
      const cfg = await configuration()
      try {
        return toGrant(await oidc.refreshTokenGrant(cfg, refreshToken))
      } catch (err) {
        const failure = classifyError(err)
        if (failure.kind === 'transient') throw keycloakUnavailable(err)
        if (failure.kind === 'rejected' && (failure.error === 'invalid_grant' || failure.error === 'invalid_client')) {
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
     * is `session_ended`.
     */
    async exchange(
      subjectToken: string,
      params: { subjectClientId?: string; scope?: string } & (
        { requested: 'refresh_token' } | { requested: 'access_token'; audience: string }
      ),
    ): Promise<TokenGrant> {
      const cfg = await configuration()
      try {
        const grant = toGrant(
          await oidc.genericGrantRequest(cfg, 'urn:ietf:params:oauth:grant-type:token-exchange', {
            subject_token: subjectToken,
            subject_token_type: 'urn:ietf:params:oauth:token-type:access_token',
            requested_token_type: `urn:ietf:params:oauth:token-type:${params.requested}`,
            ...(params.scope ? { scope: params.scope } : {}),
            ...(params.requested === 'access_token' ? { audience: params.audience } : {}),
          }),
        )
        if (params.requested === 'refresh_token' && !grant.refreshToken) {
          throw new Error('Keycloak answered a token exchange without a refresh token')
        }
        return { ...grant, claims: payloadOf(grant.accessToken) }
      } catch (err) {
        const failure = classifyError(err)
        if (failure.kind === 'transient') throw keycloakUnavailable(err)
        if (failure.kind !== 'rejected') throw err
        const refusal = exchangeRefusal(failure, {
          clientId: options.clientId,
          subjectClientId: params.subjectClientId ?? options.clientId,
        })
        throw new Failure(refusal.sessionEnded ? 'session_ended' : 'exchange_refused', refusal.message, { cause: err })
      }
    },

    /**
     * An access token for this client itself (client credentials, its service account), for calls to
     * another keyward deployment; reused until half a minute before it expires.
     */
    async clientCredentials(): Promise<string> {
      if (serviceToken && serviceToken.until > Date.now()) return serviceToken.value
      const cfg = await configuration()
      try {
        const res = await oidc.clientCredentialsGrant(cfg)
        serviceToken = { value: res.access_token, until: Date.now() + ((res.expires_in ?? 60) - 30) * 1000 }
        return res.access_token
      } catch (err) {
        const failure = classifyError(err)
        if (failure.kind === 'transient') throw keycloakUnavailable(err)
        if (failure.kind !== 'rejected') throw err
        throw new Failure(
          'exchange_refused',
          `Keycloak gave client ${options.clientId} no token of its own (${failure.error}: ${failure.description ?? ''}); ` +
            'to fix: turn on "Service accounts roles" on it (no role needed) for handoffs between deployments.',
          { cause: err },
        )
      }
    },

    /** RFC 7009 revocation; Keycloak answers 200 for tokens it no longer knows. */
    async revoke(token: string): Promise<void> {
      const cfg = await configuration()
      try {
        await oidc.tokenRevocation(cfg, token)
      } catch (err) {
        if (classifyError(err).kind === 'transient') throw keycloakUnavailable(err)
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
