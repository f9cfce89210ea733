import type { Request } from 'express'
import type { AppConfig } from '../config/load'
import { unavailable } from '../errors'
import type { Logger } from '../log'
import type { OidcClient } from '../oidc/client'
import type { LoginTransactionStore } from '../store/login-transactions'
import type { MobileCodeStore } from '../store/mobile-codes'
import type { TokenSessionStore } from '../store/token-sessions'
import type { Lifetimes, TokenSession } from '../tokens/token-session'

/** What one app's routes need; built once per app by the composition root. */
export interface AppContext {
  app: AppConfig
  oidc: OidcClient
  tokenSessions: TokenSessionStore
  loginTransactions: LoginTransactionStore
  mobileCodes: MobileCodeStore
  /** The OIDC client of any app, for sessions of other apps listed to the same user. */
  oidcFor: (app: string) => OidcClient
  loginTxTtlSeconds: number
  /** Throws 429 when this client address starts logins faster than LOGIN_RATE_LIMIT. */
  admitLogin: (req: Request) => Promise<void>
  lifetimes: Lifetimes
  log: Logger
  now: () => number
}

declare global {
  namespace Express {
    interface Locals {
      /** The caller's token session, set by `resolveTokenSession`. */
      tokenSession?: TokenSession
      /** The caller presented a session that no longer exists (expired or ended elsewhere). */
      sessionEnded?: boolean
      /** The caller authenticated with a session handle (mobile), not a cookie. */
      viaBearer?: boolean
    }
  }
}

/** express-session's callback API as promises; a store failure becomes a 503 Problem. */
function storeCall(call: (done: (err: unknown) => void) => void): Promise<void> {
  return new Promise((resolve, reject) => call((err) => (err ? reject(unavailable('store', err)) : resolve())))
}
export const regenerateSession = (req: Request) => storeCall((done) => req.session.regenerate(done))
export const saveSession = (req: Request) => storeCall((done) => req.session.save(done))
export const destroySession = (req: Request) => storeCall((done) => req.session.destroy(done))
