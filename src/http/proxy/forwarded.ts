import type { IncomingMessage } from 'node:http'
import proxyaddr from 'proxy-addr'

const first = (header: string | string[] | undefined) =>
  String(header ?? '')
    .split(',', 1)[0]
    .trim()

/**
 * The client's address and the Host it asked for, as Express works them out with `trust proxy` set to
 * a hop count (TRUST_PROXY): X-Forwarded-For and -Host are believed from that many proxies in front of
 * keyward, and not at all when it is false. The hot path runs before Express, so it asks the same
 * questions here.
 */
export function forwardedOf(trustProxy: number | false) {
  const hops = trustProxy === false ? 0 : trustProxy
  const trust = (_address: string, i: number) => i < hops

  /** The Host the client asked for (X-Forwarded-Host from a trusted proxy). */
  const host = (req: IncomingMessage): string =>
    (hops > 0 && first(req.headers['x-forwarded-host'])) || req.headers.host || ''

  /** The client's address. */
  const clientIp = (req: IncomingMessage): string => proxyaddr(req, trust)

  return { host, clientIp }
}
