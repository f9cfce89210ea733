import type { RequestHandler } from 'express'
import type { Logger } from '../../log'

/** One line per request. The path only: query strings can carry authorization codes. */
export function requestLog(log: Logger): RequestHandler {
  return function logRequest(req, res, next) {
    if (!log.isLevelEnabled('debug')) return next() // the hot path pays nothing for a disabled log
    const started = process.hrtime.bigint()
    res.on('finish', () => {
      const ms = Number(process.hrtime.bigint() - started) / 1e6
      log.debug({ method: req.method, path: req.path, status: res.statusCode, ms: Math.round(ms * 10) / 10 }, 'request')
    })
    next()
  }
}
