import type { ErrorRequestHandler, RequestHandler, Response } from 'express'
import { Problem } from '../../errors'
import { errorFields, type Logger } from '../../log'

export function sendProblem(res: Response, problem: Problem): void {
  if (problem.retryAfterSeconds) res.setHeader('Retry-After', String(problem.retryAfterSeconds))
  res
    .status(problem.status)
    .type('application/problem+json')
    .send(
      JSON.stringify({
        type: `https://github.com/keyward/keyward#problem-${problem.code}`,
        title: problem.code.replaceAll('_', ' '),
        status: problem.status,
        code: problem.code,
        detail: problem.detail,
      }),
    )
}

export const notFound: RequestHandler = (req, _res, next) => {
  next(new Problem('not_found', `No route for ${req.method} ${req.path}.`))
}

/**
 * Every error becomes problem+json. Bodies that Express could not parse are the client's fault (400);
 * anything else unexpected is a 500 whose detail says nothing about the cause.
 */
export function errorHandler(log: Logger): ErrorRequestHandler {
  return function keywardErrorHandler(err: unknown, req, res, next) {
    if (res.headersSent) return next(err)
    let problem: Problem
    if (err instanceof Problem) problem = err
    else if (isClientHttpError(err)) problem = new Problem('invalid_request', 'The request could not be read.', { cause: err })
    else problem = new Problem('internal_error', 'Something went wrong inside keyward.', { cause: err })

    const fields = { method: req.method, path: req.path, status: problem.status, problem: problem.code, error: errorFields(problem.cause ?? err) }
    if (problem.status >= 500) log.error(fields, 'request failed')
    else log.info(fields, 'request refused')
    sendProblem(res, problem)
  }
}

function isClientHttpError(err: unknown): boolean {
  const status = (err as { status?: unknown; type?: unknown })?.status
  return typeof status === 'number' && status >= 400 && status < 500
}
