import { setTimeout as sleep } from 'node:timers/promises'
import { isFailure } from '../domain/failures'

/**
 * Runs a write that must not be lost (tokens Keycloak has just issued) until it succeeds or `until`
 * (epoch ms) has passed, retrying with backoff (50 ms to 0.5 s) only while the store is unavailable.
 */
export async function retryWhileStoreUnavailable<T>(
  write: () => Promise<T>,
  until: number,
  now: () => number = Date.now,
): Promise<T> {
  for (let delayMs = 50; ; delayMs = Math.min(delayMs * 2, 500)) {
    try {
      return await write()
    } catch (err) {
      if (!isFailure(err, 'store_unavailable') || now() + delayMs >= until) throw err
      await sleep(delayMs)
    }
  }
}
