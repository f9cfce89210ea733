import type { Request } from 'express'
import { Problem } from '../errors'
import type { RateLimits } from '../store/rate-limits'

const MINUTE_MS = 60_000

/**
 * At most `perMinute` admissions of one kind per client address (req.ip: behind proxies, set
 * TRUST_PROXY) across all instances; 0 is no limit. For what anyone may ask of keyward that makes it
 * store something, such as starting a login; called once the request is known to be valid, so refused
 * bad input counts for nothing.
 */
export function perClientLimit(kind: string, perMinute: number, limits: RateLimits): (req: Request) => Promise<void> {
  return async function admit(req) {
    if (perMinute === 0) return
    const { count, resetInMs } = await limits.hit(`${kind}:${req.ip ?? 'unknown'}`, MINUTE_MS)
    if (count <= perMinute) return
    const retryAfterSeconds = Math.max(1, Math.ceil(resetInMs / 1000))
    throw new Problem('too_many_requests', `Too many ${kind} requests from this address; retry in ${retryAfterSeconds} s.`, { retryAfterSeconds })
  }
}
