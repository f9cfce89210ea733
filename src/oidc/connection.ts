import { importJWK } from 'jose'
import * as oidc from 'openid-client'
import type { ClientKey } from '../config/types'
import { Failure, keycloakUnavailable } from '../domain/failures'
import { errorFields, type Logger } from '../log'
import { classifyError } from './classify-error'

export interface ConnectionOptions {
  issuer: URL
  /** Keycloak's public base URL, as in the issuer… */
  keycloakUrl: URL
  /** …and, when set, the base URL keyward itself calls instead (a private network address). */
  backchannelUrl?: URL
  clientId: string
  /**
   * How the client proves itself: its secrets (`client_secret_basic`) or its keys (`private_key_jwt`,
   * a fresh signed assertion per call), the first in use and, during a rotation, the other one, tried
   * when Keycloak refuses the one in use.
   */
  credentials: { secrets: readonly string[] } | { keys: readonly ClientKey[] }
  timeoutSeconds: number
  /** Plain-http Keycloak, for local development and tests only. */
  allowHttp: boolean
}

/** Keycloak's 401 at its non-standard logout endpoint, which answers no OAuth error body. */
export class LogoutCredentialsRefused extends Error {}

/**
 * Keycloak refused the client's own credentials: keyward's configuration, not the session, is at
 * fault. Keycloak answers a wrong secret with 401 `unauthorized_client` ("Invalid client or Invalid
 * client credentials"); `onlyAuthentication` counts that alone, for grants where Keycloak also uses
 * these errors for its policy (a token exchange's "Audience not found" is 400 `invalid_client`).
 */
export function credentialsRefused(err: unknown, onlyAuthentication = false): boolean {
  if (err instanceof LogoutCredentialsRefused) return true
  const failure = classifyError(err)
  return (
    failure.kind === 'rejected' &&
    (failure.error === 'invalid_client' || failure.error === 'unauthorized_client') &&
    (!onlyAuthentication || failure.status === 401)
  )
}

/** One of the client's credentials: how a call to Keycloak authenticates, and how a log line names it. */
interface Credential {
  auth: oidc.ClientAuth
  kind: 'secret' | 'key'
  name: string
}

/** The credentials, in the order configured; a key's assertions are signed by WebCrypto (jose imports the JWK). */
async function credentialsOf(given: ConnectionOptions['credentials']): Promise<Credential[]> {
  if ('secrets' in given) {
    return given.secrets.map((secret, i) => ({
      auth: oidc.ClientSecretBasic(secret),
      kind: 'secret' as const,
      name: i ? 'next secret' : 'first secret',
    }))
  }
  return Promise.all(
    given.keys.map(async (k) => ({
      auth: oidc.PrivateKeyJwt({ key: (await importJWK(k.privateJwk, k.alg)) as CryptoKey, kid: k.kid }),
      kind: 'key' as const,
      name: `key ${k.kid}`,
    })),
  )
}

/**
 * One Keycloak client's connection: discovery (loaded in the background, retried), the route of every
 * call (the back-channel URL), and its credentials: the secret or key Keycloak accepts, of at most two
 * during a rotation. `asClient` runs a call as the client and turns refused credentials into `client_refused`.
 */
export function createKeycloakConnection(options: ConnectionOptions, log: Logger) {
  /** Each credential with the configuration that calls Keycloak with it, once discovery is loaded. */
  let clients: { config: oidc.Configuration; credential: Credential }[] | undefined
  let pending: Promise<NonNullable<typeof clients>> | undefined
  let retryTimer: NodeJS.Timeout | undefined
  let stopped = false
  /** The credential Keycloak accepted last. */
  let inUse = 0
  let lastRefusalLog = 0

  // Every call keyward makes to Keycloak goes through here: with a back-channel URL, the public base
  // is swapped for the private one, while the issuer (and so every token check) stays the public one.
  const publicBase = options.keycloakUrl.href.replace(/\/?$/, '/')
  const privateBase = options.backchannelUrl?.href.replace(/\/?$/, '/')
  const keycloakFetch: oidc.CustomFetch = (url, init) =>
    fetch(
      privateBase && url.startsWith(publicBase) ? privateBase + url.slice(publicBase.length) : url,
      init as RequestInit,
    )

  /** The same client with another credential, on the server metadata discovery loaded. */
  function withCredential(loaded: oidc.Configuration, credential: Credential): oidc.Configuration {
    const other = new oidc.Configuration(loaded.serverMetadata(), options.clientId, undefined, credential.auth)
    other[oidc.customFetch] = keycloakFetch
    other.timeout = options.timeoutSeconds
    if (options.allowHttp) oidc.allowInsecureRequests(other)
    return other
  }

  function discover(): Promise<NonNullable<typeof clients>> {
    pending ??= credentialsOf(options.credentials)
      .then(async ([first, ...others]) => {
        const loaded = await oidc.discovery(options.issuer, options.clientId, undefined, first.auth, {
          [oidc.customFetch]: keycloakFetch,
          timeout: options.timeoutSeconds,
          execute: options.allowHttp ? [oidc.allowInsecureRequests] : [],
        })
        return (clients = [
          { config: loaded, credential: first },
          ...others.map((credential) => ({ config: withCredential(loaded, credential), credential })),
        ])
      })
      .finally(() => (pending = undefined))
    return pending
  }

  async function loaded(): Promise<NonNullable<typeof clients>> {
    if (clients) return clients
    try {
      return await discover()
    } catch (err) {
      throw keycloakUnavailable(err)
    }
  }

  const configuration = async (): Promise<oidc.Configuration> => (await loaded())[inUse].config

  /**
   * Runs a call that authenticates as the client, with the credential Keycloak accepted last, then
   * the other one. When Keycloak refuses every one, no session is at fault: `client_refused`, and a
   * loud log line (at most one per 10 s) naming the client.
   */
  async function asClient<T>(
    call: (cfg: oidc.Configuration, auth: oidc.ClientAuth) => Promise<T>,
    refused: (err: unknown) => boolean = credentialsRefused,
  ): Promise<T> {
    const all = await loaded()
    let refusal: unknown
    for (let n = 0; n < all.length; n++) {
      const i = (inUse + n) % all.length
      const { config, credential } = all[i]
      try {
        const result = await call(config, credential.auth)
        if (i !== inUse) {
          log.warn(
            { clientId: options.clientId, credential: credential.name },
            `Keycloak now accepts the other client ${credential.kind}; using it`,
          )
          inUse = i
        }
        return result
      } catch (err) {
        if (!refused(err)) throw err
        refusal = err
      }
    }
    if (Date.now() - lastRefusalLog > 10_000) {
      lastRefusalLog = Date.now()
      log.error(
        { clientId: options.clientId, credentials: all.map((c) => c.credential.name), error: errorFields(refusal) },
        `Keycloak refuses the credentials of client ${options.clientId}: its sessions are kept but cannot refresh or end until keyward has the client's secret or key`,
      )
    }
    throw new Failure(
      'client_refused',
      `Keycloak refused keyward's credentials for client ${options.clientId}; your session is kept, and works again once keyward's configuration is mended.`,
      { cause: refusal },
    )
  }

  return {
    /** Loads discovery in the background, retrying with backoff, so keyward starts even before Keycloak. */
    start: (): void => {
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

    stop: (): void => {
      stopped = true
      clearTimeout(retryTimer)
    },

    isReady: (): boolean => clients !== undefined,
    configuration,
    asClient,
    keycloakFetch,
  }
}

export type KeycloakConnection = ReturnType<typeof createKeycloakConnection>
