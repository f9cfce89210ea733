import { Problem } from './problem'

/**
 * The only redirect targets keyward accepts from a client: a path on the app's own origin, given as
 * a relative path or as an absolute URL on that origin. Returns the normalised path.
 * @see https://cheatsheetseries.owasp.org/cheatsheets/Unvalidated_Redirects_and_Forwards_Cheat_Sheet.html
 */
export function safeReturnTo(value: unknown, appOrigin: URL, fallback = '/'): string {
  if (value === undefined || value === '') return fallback
  // eslint-disable-next-line no-control-regex -- control characters are exactly what is refused
  if (typeof value !== 'string' || value.length > 2048 || /[\u0000-\u001f\u007f\\]/.test(value)) {
    throw new Problem(
      'invalid_return_to',
      'returnTo must be a single path on this application, such as /orders?page=2.',
    )
  }
  const relative = value.startsWith('/') && !value.startsWith('//')
  const target = URL.canParse(value, appOrigin) ? new URL(value, appOrigin) : undefined
  // The normalised path is what a browser will read, so it is what must not start with "//":
  // `/.//evil.example` normalises to `//evil.example`, a link to another host.
  if (
    !target ||
    target.origin !== appOrigin.origin ||
    (!relative && !/^https?:\/\//i.test(value)) ||
    target.pathname.startsWith('//')
  ) {
    throw new Problem('invalid_return_to', 'returnTo must stay on this application; other origins are not allowed.')
  }
  return `${target.pathname}${target.search}${target.hash}`
}
