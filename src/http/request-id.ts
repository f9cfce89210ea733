import { randomUUID } from 'node:crypto'
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http'
import { requestContext } from '../log'

const ACCEPTED = /^[\w.:@/+=-]{1,128}$/

/**
 * The id of a request, on its log lines, its answer and its call to an upstream (`X-Request-Id`): the
 * one a trusted proxy in front of keyward sent (TRUST_PROXY), else a new one. A client's own is not
 * taken: it could make its requests' log lines look like another's.
 */
export function requestIdOf(req: IncomingMessage, fromProxy: boolean): string {
  const given = req.headers['x-request-id']
  return fromProxy && typeof given === 'string' && ACCEPTED.test(given) ? given : randomUUID()
}

/** `listener` with each request's id (`requestIdOf`) on its answer and in its log context. */
export function withRequestId(listener: RequestListener, fromProxy: boolean): RequestListener {
  return function identified(req: IncomingMessage, res: ServerResponse) {
    const requestId = requestIdOf(req, fromProxy)
    res.setHeader('X-Request-Id', requestId)
    requestContext.run({ requestId }, listener, req, res)
  }
}
