import { redirectTarget } from '../config/redirect-target'
import { KeywardError } from './problem'

/**
 * The only redirect targets keyward accepts from a client: a path on the app's own origin, given as
 * a relative path or as an absolute URL on that origin (see `redirectTarget`). Returns the normalised path.
 */
export function safeReturnTo(value: unknown, appOrigin: URL, fallback = '/'): string {
  if (value === undefined || value === '') return fallback
  const target = typeof value === 'string' ? redirectTarget(value, appOrigin, true) : { refused: 'characters' }
  if ('path' in target) return target.path
  throw target.refused === 'characters'
    ? new KeywardError(
        'invalid_return_to',
        'returnTo must be a single path on this application, such as /orders?page=2.',
      )
    : new KeywardError('invalid_return_to', 'returnTo must stay on this application; other origins are not allowed.')
}
