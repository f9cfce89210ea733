import { AsyncLocalStorage } from 'node:async_hooks'
import pino, { type DestinationStream, type Logger } from 'pino'

export type { Logger }

/**
 * Paths that could ever hold a credential. Code logs only chosen fields, so this is the second line
 * of defence: a token that reaches a log call by mistake is still censored.
 */
const REDACT = [
  'access_token',
  'refresh_token',
  'id_token',
  'code',
  'code_verifier',
  'logout_token',
  'accessToken',
  'refreshToken',
  'idToken',
  'tokens',
  'cookie',
  'authorization',
  '*.access_token',
  '*.refresh_token',
  '*.id_token',
  '*.code',
  '*.code_verifier',
  '*.logout_token',
  '*.accessToken',
  '*.refreshToken',
  '*.idToken',
  '*.tokens',
  '*.cookie',
  '*.authorization',
  'headers.cookie',
  'headers.authorization',
  'headers["set-cookie"]',
]

/** The request a piece of work serves: every log line written for it carries its id. */
export const requestContext = new AsyncLocalStorage<{ requestId: string }>()

export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'keyward' },
      redact: { paths: REDACT, censor: '[redacted]' },
      mixin: () => requestContext.getStore() ?? {},
    },
    destination,
  )
}

/**
 * keyward's logger inside an application: a child of the application's own pino logger, which keyward's
 * redaction then applies to too, or keyward's own when it gave none.
 */
export const childLogger = (parent: Logger | undefined, level: string, bindings: Record<string, unknown>): Logger =>
  parent
    ? parent.child(bindings, { redact: { paths: REDACT, censor: '[redacted]' } })
    : createLogger(level).child(bindings)

/** The parts of an error that are safe to log: never a request, response body or token. */
// Duck-typed, not instanceof: errors from Node's internals may come from another realm.
const isError = (e: unknown): e is Error =>
  typeof e === 'object' && e !== null && typeof (e as Error).message === 'string'

export function errorFields(err: unknown): Record<string, unknown> {
  if (!isError(err)) return { error: String(err) }
  const e = err as Error & { code?: unknown; error?: unknown; status?: unknown }
  // Only error causes: others (response bodies, callback parameters) are not for logs.
  const cause = isError(e.cause) ? errorFields(e.cause) : undefined
  return {
    name: e.name,
    message: e.message,
    ...(typeof e.code === 'string' ? { errorCode: e.code } : {}),
    ...(typeof e.error === 'string' ? { oauthError: e.error } : {}),
    ...(typeof e.status === 'number' ? { status: e.status } : {}),
    ...(cause ? { cause } : {}),
  }
}
