/** Whether a URL is plain http on a loopback host: the only place cookies may go without `Secure`. */
export function isLocalHttp(url: URL): boolean {
  const host = url.hostname
  // RFC 6761: `localhost` and every name under it are loopback, and browsers treat them so.
  return url.protocol === 'http:' && (['localhost', '127.0.0.1', '[::1]'].includes(host) || host.endsWith('.localhost'))
}

/** A comma-separated list, trimmed, without empty entries. */
export const list = (value: string): string[] =>
  value
    .split(',')
    .map((v) => v.trim())
    .filter(Boolean)

/**
 * A problem line for option `name` unless `ok`: `https` is the rule for every URL keyward trusts;
 * `devAllowHttp` names the option that lifts it.
 */
export const httpsRule = (name: string, given: unknown, ok: boolean, devAllowHttp: string): string[] =>
  ok ? [] : [`${name}: must be https; plain http only with ${devAllowHttp}=true (got ${shown(given)})`]

/** A value as a problem shows it: text as JSON, a URL by its href, anything else by its kind. */
export function shown(value: unknown): string {
  if (value instanceof URL) return JSON.stringify(value.href)
  if (['string', 'number', 'boolean'].includes(typeof value)) return JSON.stringify(value)
  if (Array.isArray(value) && value.every((v) => ['string', 'number'].includes(typeof v))) return JSON.stringify(value)
  const kind = Array.isArray(value) ? 'array' : typeof value
  return /^[aeiou]/.test(kind) ? `an ${kind}` : `a ${kind}`
}
