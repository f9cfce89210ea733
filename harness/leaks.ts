/**
 * JWTs found in a text: a base64url segment that decodes to a JSON header with `alg`, then a payload.
 * Decoding the header rules out random base64 that merely starts with "eyJ".
 */
export function findJwts(text: string): string[] {
  const found: string[] = []
  for (const match of text.matchAll(/eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+/g)) {
    const [header] = match[0].split('.')
    try {
      if (typeof JSON.parse(Buffer.from(header, 'base64url').toString('utf8')).alg === 'string') found.push(match[0])
    } catch {
      // not a JWT header
    }
  }
  return found
}

/**
 * What the suites have seen of tokens where none may be (test/support/no-token-leaks.ts reads it
 * after every test): responses from a keyward, and keyward's log lines.
 */
const leaks: string[] = []
const pending = new Set<Promise<unknown>>()
const logs: { name: string; read: () => string; offset: number }[] = []
const keywardPorts = new Set<string>()

/** A keyward under test: responses from its port are checked, and so is everything `log()` returns. */
export function watchKeyward(port: number | string, log: () => string): void {
  keywardPorts.add(String(port))
  logs.push({ name: `keyward on port ${port}`, read: log, offset: 0 })
}

/** Whether a URL is one of the keywards under test (on loopback, whatever the host name). */
export const isKeyward = (url: URL): boolean => keywardPorts.has(url.port)

/** A private key: PEM, or a JWK's private member `d` (a client's signing key, private_key_jwt). */
const PRIVATE_KEY = /-----BEGIN [A-Z ]*PRIVATE KEY-----|"d"\s*:\s*"[A-Za-z0-9_-]{20,}"/

/** Records the JWTs and private keys in `text`, seen at `where`. */
export function scanForTokens(where: string, text: string): void {
  const found = findJwts(text)
  if (found.length) leaks.push(`${where}: ${found.length} JWT(s), e.g. ${found[0].slice(0, 24)}…`)
  if (PRIVATE_KEY.test(text)) leaks.push(`${where}: a private key`)
}

/** A scan still reading a response body; `takeLeaks` waits for it (a few seconds at most). */
export function trackScan(scan: Promise<unknown>): void {
  pending.add(scan)
  void scan.finally(() => pending.delete(scan))
}

/** The leaks seen so far, taken off the record. */
export async function takeLeaks(): Promise<string[]> {
  // A body still streaming after a few seconds (a request left hanging on purpose) is not waited for.
  let timer: NodeJS.Timeout | undefined
  await Promise.race([Promise.allSettled([...pending]), new Promise((r) => (timer = setTimeout(r, 3000)))])
  clearTimeout(timer)
  for (const log of logs) {
    const text = log.read()
    scanForTokens(`log of ${log.name}`, text.slice(log.offset))
    log.offset = text.length
  }
  return leaks.splice(0)
}
