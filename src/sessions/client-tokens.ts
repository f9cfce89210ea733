import { setTimeout as sleep } from 'node:timers/promises'
import type { RefreshSettings } from '../config/types'
import { freshness } from '../domain/freshness'
import type { UpstreamToken } from '../domain/token-session'
import { errorFields, type Logger } from '../log'
import type { OidcClient } from '../oidc/client'
import type { ClientTokenStore } from '../store/client-tokens'
import type { RefreshLocks } from '../store/refresh-locks'
import { singleFlight } from './single-flight'

export interface ClientTokenDeps {
  store: ClientTokenStore
  locks: RefreshLocks
  oidcFor: (app: string) => OidcClient
  refresh: RefreshSettings
  log: Logger
  now: () => number
}

/**
 * Each app's own client-credentials token (upstreams with token `client`, calls to another keyward
 * deployment): held in this process and in Redis while fresh, and obtained anew before it expires,
 * once at a time in this process and, through the refresh lock, across processes. Redis away costs
 * only the sharing: the token then comes from Keycloak alone.
 */
export function createClientTokens(deps: ClientTokenDeps) {
  const held = new Map<string, UpstreamToken>()
  const flights = singleFlight<UpstreamToken>()
  const lockId = (app: string) => `client:${app}`
  const fresh = (t: UpstreamToken | undefined, refused?: string): t is UpstreamToken =>
    t !== undefined &&
    t.accessToken !== refused &&
    freshness({ accessExpiresAt: t.expiresAt, refreshedAt: t.obtainedAt }, deps.now(), deps.refresh) === 'fresh'

  const shared = (app: string) =>
    deps.store.get(app).catch((err: unknown) => {
      deps.log.warn({ app, error: errorFields(err) }, 'the shared client token could not be read')
      return undefined
    })

  async function fromKeycloak(app: string): Promise<UpstreamToken> {
    const obtainedAt = deps.now()
    const grant = await deps.oidcFor(app).clientCredentials()
    const token: UpstreamToken = {
      accessToken: grant.accessToken,
      expiresAt: obtainedAt + grant.expiresIn * 1000,
      obtainedAt,
      ...(grant.dpopKey ? { dpopKey: grant.dpopKey } : {}),
    }
    await deps.store.put(app, token).catch((err: unknown) => {
      deps.log.warn({ app, error: errorFields(err) }, 'the client token could not be shared')
    })
    return token
  }

  /** A fresh token other than `refused`: Redis's, or Keycloak's under the lock, or after waiting for who holds it. */
  async function obtain(app: string, refused?: string): Promise<UpstreamToken> {
    const stored = await shared(app)
    if (fresh(stored, refused)) return stored
    const deadline = deps.now() + deps.refresh.waitMs
    for (;;) {
      const fence = await deps.locks.acquire(lockId(app)).catch(() => 'no-lock') // Redis away: go alone
      if (fence) {
        try {
          const again = fence === 'no-lock' ? undefined : await shared(app)
          return fresh(again, refused) ? again : await fromKeycloak(app)
        } finally {
          if (fence !== 'no-lock') await deps.locks.release(lockId(app), fence).catch(() => undefined)
        }
      }
      await sleep(deps.refresh.pollMs)
      const current = await shared(app)
      if (fresh(current, refused)) return current
      if (deps.now() >= deadline) return fromKeycloak(app)
    }
  }

  return {
    /** The app's own token, fresh; `force`: the one held was refused by whoever it was shown to. */
    token(app: string, force = false): Promise<UpstreamToken> {
      const mine = held.get(app)
      if (!force && fresh(mine)) return Promise.resolve(mine)
      return flights.run(`${app}${force ? '!' : ''}`, async () => {
        const token = await obtain(app, force ? mine?.accessToken : undefined)
        held.set(app, token)
        return token
      })
    },
  }
}

export type ClientTokens = ReturnType<typeof createClientTokens>
