import type { IncomingMessage } from 'node:http'
import type { ErrorRequestHandler, RequestHandler } from 'express'
import { errorFields, type Logger } from '../../log'
import { KeywardError, sendProblem, toProblem } from '../problem'

export const notFound: RequestHandler = (req, _res, next) => {
  next(new KeywardError('not_found', `No route for ${req.method} ${req.baseUrl}${req.path}.`))
}

/** Refused requests logged per window and logger; past that they are counted, and the count logged. */
export const REFUSALS_LOGGED = { perWindow: 100, windowMs: 10_000 }
const refusalWindows = new WeakMap<Logger, { startedAt: number; logged: number; dropped: number }>()

/**
 * Whether a refusal may have its line: anyone can send requests that are refused (no session, a bad
 * CSRF header, a malformed path), so they must not decide how much keyward logs. One budget per
 * logger, shared by the API proxy and Express.
 */
function refusalBudget(log: Logger): boolean {
  const now = Date.now()
  let w = refusalWindows.get(log)
  if (!w || now - w.startedAt >= REFUSALS_LOGGED.windowMs) {
    if (w?.dropped) log.warn({ dropped: w.dropped, windowMs: REFUSALS_LOGGED.windowMs }, 'refused requests not logged')
    w = { startedAt: now, logged: 0, dropped: 0 }
    refusalWindows.set(log, w)
  }
  if (w.logged < REFUSALS_LOGGED.perWindow) {
    w.logged++
    return true
  }
  w.dropped++
  return false
}

/**
 * One log line per refused or failed request: the path only (a query may carry a code), never a token.
 * Failures (5xx) always; refusals (4xx) up to `REFUSALS_LOGGED` per window, then a count.
 */
export function logProblem(log: Logger, req: IncomingMessage, problem: KeywardError): void {
  if (problem.status < 500 && !refusalBudget(log)) return
  const fields = {
    method: req.method,
    path: (req.url ?? '').split('?', 1)[0],
    status: problem.status,
    problem: problem.code,
    error: errorFields(problem.cause ?? problem),
  }
  if (problem.status >= 500) log.error(fields, 'request failed')
  else log.info(fields, 'request refused')
}

/** Every error becomes problem+json (see `toProblem`), and one log line. */
export function errorHandler(log: Logger): ErrorRequestHandler {
  return function keywardErrorHandler(err: unknown, req, res, next) {
    if (res.headersSent) return next(err)
    const problem = toProblem(err)
    logProblem(log, req, problem)
    sendProblem(res, problem)
  }
}
