import type { AppConfig } from '../config/types'
import type { Change } from './realm-state'

/**
 * One thing wrong with the realm for keyward's configuration: what, the change that fixes it, and
 * whether the setup command makes that change. A `problem` makes the doctor fail; `advice` does not.
 */
export interface Finding {
  severity: 'problem' | 'advice'
  subject: string
  problem: string
  fix: string
  change?: Change
}

export type CheckedApp = Pick<
  AppConfig,
  | 'id'
  | 'clientId'
  | 'clientSecret'
  | 'clientAuth'
  | 'clientKeys'
  | 'authPath'
  | 'publicUrl'
  | 'callbackUrl'
  | 'postLogoutPath'
  | 'handoffTargets'
  | 'remote'
  | 'tokenExchange'
  | 'backchannelLogoutUrl'
  | 'par'
  | 'dpop'
> & {
  /** The audiences of the upstreams this app calls with tokens of their own. */
  upstreamAudiences: string[]
}
