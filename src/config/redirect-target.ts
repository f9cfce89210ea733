/**
 * A redirect target that stays on `origin`: a path there (or, with `absolute`, an absolute URL on it).
 * The normalised path is what a browser will read, so it is what must not start with "//":
 * `/.//evil.example` normalises to `//evil.example`, a link to another host. Answers the normalised
 * path with its query and fragment, or why the value is refused.
 * @see https://cheatsheetseries.owasp.org/cheatsheets/Unvalidated_Redirects_and_Forwards_Cheat_Sheet.html
 */
export function redirectTarget(
  value: string,
  origin: URL,
  absolute: boolean,
): { path: string } | { refused: 'characters' | 'elsewhere' } {
  // eslint-disable-next-line no-control-regex -- control characters are exactly what is refused
  if (value.length > 2048 || /[\u0000-\u001f\u007f\\]/.test(value)) return { refused: 'characters' }
  const relative = value.startsWith('/') && !value.startsWith('//')
  const target = URL.canParse(value, origin) ? new URL(value, origin) : undefined
  if (
    !target ||
    target.origin !== origin.origin ||
    (!relative && !(absolute && /^https?:\/\//i.test(value))) ||
    target.pathname.startsWith('//')
  ) {
    return { refused: 'elsewhere' }
  }
  return { path: `${target.pathname}${target.search}${target.hash}` }
}
