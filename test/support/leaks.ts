/**
 * JWTs found in a text: a base64url segment that decodes to a JSON header with `alg`, then a payload.
 * Decoding the header rules out random base64 that merely starts with "eyJ".
 */
export function findJwts(text: string): string[] {
  const found: string[] = []
  for (const match of text.matchAll(/eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+/g)) {
    const [header] = match[0].split('.')
    try {
      if (typeof JSON.parse(Buffer.from(header!, 'base64url').toString('utf8')).alg === 'string') found.push(match[0])
    } catch {
      // not a JWT header
    }
  }
  return found
}
