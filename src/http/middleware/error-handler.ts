import type { IncomingMessage } from 'node:http'
import type { ErrorRequestHandler, RequestHandler } from 'express'
import { errorFields, type Logger } from '../../log'
import { Problem, sendProblem, toProblem } from '../problem'

export const notFound: RequestHandler = (req, _res, next) => {
  next(new Problem('not_found', `No route for ${req.method} ${req.path}.`))
}

/** One log line per refused or failed request: the path only (a query may carry a code), never a token. */
export function logProblem(log: Logger, req: IncomingMessage, problem: Problem): void {
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
