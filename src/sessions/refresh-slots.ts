import { Failure } from '../domain/failures'

/** A refresh that got no turn before its deadline: 503 `keycloak_unavailable`, counted apart (`no_slot`). */
export class NoRefreshSlot extends Failure {
  constructor() {
    super('keycloak_unavailable', 'Keycloak is slow to answer refreshes; try again shortly.')
  }
}

export interface SlotSettings {
  /** The most refreshes at Keycloak at once, and the number allowed while Keycloak answers quickly. */
  max: number
  /** A refresh that took this long halves the number allowed at once (once per round of refreshes). */
  slowMs: number
  /** Told each time the number allowed at once changes. */
  onLimit?: (limit: number) => void
}

/**
 * Refreshes of this process at Keycloak at once are limited; the others wait for a slot, in turn,
 * until their deadline, then fail having sent nothing. Why: after an outage every session's access
 * token has expired, and a Keycloak flooded with all their refreshes at once answers late. keyward
 * gives up on a late answer, but Keycloak may still carry that refresh out, so the same refresh token
 * presented again counts as a reuse, and a session out of reuses is ended by Keycloak. A refresh
 * waiting here has spent nothing.
 *
 * The limit adapts as TCP's window does: a slow answer (`slowMs`, well inside the call's timeout)
 * halves it, at most once for the refreshes under way when it was last cut; each quick answer adds
 * 1/limit, so it grows by about one per round back to `max`. A Keycloak that is slow because it is
 * queueing (a cold start, a busy machine) then answers the fewer refreshes sent within their timeout,
 * instead of abandoning them all after spending their tokens.
 */
export function refreshSlots(settings: SlotSettings, now: () => number = Date.now) {
  let limit = settings.max
  let cutAt = -Infinity
  let inUse = 0
  const waiting: (() => void)[] = []
  const allowed = () => Math.floor(limit)

  /** Hands free slots to the first in line. */
  const admit = () => {
    while (inUse < allowed() && waiting.length > 0) {
      inUse++
      waiting.shift()!()
    }
  }

  /** Adapts the limit to how long a call took (failed or not: a timeout is the slowest answer). */
  const observe = (startedAt: number) => {
    const before = allowed()
    const took = now() - startedAt
    if (took >= settings.slowMs) {
      if (startedAt < cutAt) return // sent before the last cut: already accounted for
      limit = Math.max(1, Math.floor(limit / 2))
      cutAt = now()
    } else if (took < settings.slowMs / 4) {
      limit = Math.min(settings.max, limit + 1 / allowed())
    }
    if (allowed() !== before) settings.onLimit?.(allowed())
  }

  const slot = (until: number) =>
    new Promise<boolean>((resolve) => {
      const take = () => {
        clearTimeout(timer)
        resolve(true)
      }
      const timer = setTimeout(
        () => {
          waiting.splice(waiting.indexOf(take), 1)
          resolve(false)
        },
        Math.max(0, until - now()),
      )
      waiting.push(take)
    })

  return {
    /** Runs `call` in a slot, waiting for one until `until` (epoch ms) at most. */
    async run<T>(call: () => Promise<T>, until: number): Promise<T> {
      if (inUse < allowed() && waiting.length === 0) inUse++
      else if (!(await slot(until))) {
        throw new NoRefreshSlot()
      }
      const startedAt = now()
      try {
        return await call()
      } finally {
        inUse--
        observe(startedAt)
        admit()
      }
    },
    /** Refreshes at Keycloak now, waiting for a slot, and allowed at once. */
    load: () => ({ inFlight: inUse, waiting: waiting.length, limit: allowed() }),
  }
}
