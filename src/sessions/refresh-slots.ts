import { Failure } from '../domain/failures'

/** A refresh that got no turn before its deadline: 503 `keycloak_unavailable`, counted apart (`no_slot`). */
export class NoRefreshSlot extends Failure {
  constructor() {
    super('keycloak_unavailable', 'Keycloak is slow to answer refreshes; try again shortly.')
  }
}

/**
 * At most `limit` refreshes of this process at Keycloak at once; the others wait for a slot, in turn,
 * until their deadline, then fail having sent nothing. Why: after an outage every session's access
 * token has expired, and a Keycloak flooded with all their refreshes at once answers late. keyward
 * gives up on a late answer, but Keycloak may still carry that refresh out, so the same refresh token
 * presented again counts as a reuse, and a session out of reuses is ended by Keycloak. A refresh
 * waiting here has spent nothing.
 */
export function refreshSlots(limit: number, now: () => number = Date.now) {
  let inUse = 0
  const waiting: (() => void)[] = []

  /** The slot goes to the first in line, or back to the pool. */
  const release = () => {
    const next = waiting.shift()
    if (next) next()
    else inUse--
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
      if (inUse < limit) inUse++
      else if (!(await slot(until))) {
        throw new NoRefreshSlot()
      }
      try {
        return await call()
      } finally {
        release()
      }
    },
    /** Refreshes at Keycloak now, and waiting for a slot. */
    load: () => ({ inFlight: inUse, waiting: waiting.length }),
  }
}
