import type { Request } from 'express'
import ipaddr from 'ipaddr.js'
import { KeywardError } from './problem'

/** Counters shared by every instance: one hit on `name`, and how many its current window holds. */
export type CountHit = (name: string, windowMs: number) => Promise<{ count: number; resetInMs: number }>

const MINUTE_MS = 60_000

/**
 * What a limit counts by: an IPv4 address, or an IPv6 address's /64 — one site's network, in which a
 * host may pick any address it likes, so counting single IPv6 addresses would limit nothing.
 */
export function clientAddressKey(ip: string | undefined): string {
  if (!ip || !ipaddr.isValid(ip)) return 'unknown'
  const address = ipaddr.process(ip) // an IPv4-mapped IPv6 address counts as its IPv4 one
  if (address.kind() === 'ipv4') return address.toString()
  return `${(address as ipaddr.IPv6).parts
    .slice(0, 4)
    .map((part) => part.toString(16))
    .join(':')}::/64`
}

/**
 * At most `perMinute` admissions of one kind per client address (`clientAddressKey` of req.ip: behind
 * proxies, set TRUST_PROXY) across all instances; 0 is no limit. For what anyone may ask of keyward that makes it
 * store something, such as starting a login; called once the request is known to be valid, so refused
 * bad input counts for nothing.
 */
export function perClientLimit(kind: string, perMinute: number, hit: CountHit): (req: Request) => Promise<void> {
  return async function admit(req) {
    if (perMinute === 0) return
    const { count, resetInMs } = await hit(`${kind}:${clientAddressKey(req.ip)}`, MINUTE_MS)
    if (count <= perMinute) return
    const retryAfterSeconds = Math.max(1, Math.ceil(resetInMs / 1000))
    throw new KeywardError(
      'too_many_requests',
      `Too many ${kind} requests from this address; retry in ${retryAfterSeconds} s.`,
      { retryAfterSeconds },
    )
  }
}
