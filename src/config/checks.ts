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

/** A problem line for variable `name` unless `ok`: `https` is the rule for every URL keyward trusts. */
export const httpsRule = (
  name: string,
  given: string,
  ok: boolean,
  rule = 'must be https; plain http only with DEV_ALLOW_HTTP=true',
): string[] => (ok ? [] : [`${name}: ${rule} (got ${JSON.stringify(given)})`])
