import type { RequestHandler } from 'express'
import { KeywardError, sendProblem } from '../problem'

/** The refusal of new work while shutting down: 503, retry (another instance takes it). */
export const shuttingDown = () =>
  new KeywardError('shutting_down', 'This keyward instance is shutting down; retry.', { retryAfterSeconds: 1 })

/** While shutting down, new requests get 503 with `Connection: close` so load balancers move on. */
export function draining(isDraining: () => boolean): RequestHandler {
  return function refuseWhileDraining(_req, res, next) {
    if (!isDraining()) return next()
    res.setHeader('Connection', 'close')
    sendProblem(res, shuttingDown())
  }
}
