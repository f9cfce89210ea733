import type { IncomingHttpHeaders, IncomingMessage } from 'node:http'
import { KeywardError } from '../problem'

const hasBody = (req: IncomingMessage) =>
  req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0

/**
 * What goes to the upstream as the request's body, and the headers that describe it: the request
 * itself, streamed. Inside a host application a body parser (express.json(), express.urlencoded())
 * may have read it already; then what it parsed is written again, in the type it came in, with its
 * new length. A body read by anything else cannot be recovered and is refused, never sent short.
 */
export function outgoingBody(req: IncomingMessage): {
  body?: NodeJS.ReadableStream | Buffer
  headers: IncomingHttpHeaders
} {
  if (!hasBody(req)) return { headers: req.headers }
  if (!req.readableEnded) return { body: req, headers: req.headers }
  const parsed = (req as { body?: unknown }).body
  const type = String(req.headers['content-type'] ?? '')
  let bytes: Buffer | undefined
  if (Buffer.isBuffer(parsed)) bytes = parsed
  else if (typeof parsed === 'string') bytes = Buffer.from(parsed)
  else if (parsed && typeof parsed === 'object' && /\bjson\b/i.test(type)) bytes = Buffer.from(JSON.stringify(parsed))
  else if (parsed && typeof parsed === 'object' && /x-www-form-urlencoded/i.test(type)) {
    bytes = Buffer.from(new URLSearchParams(parsed as Record<string, string>).toString())
  }
  if (bytes === undefined) {
    throw new KeywardError(
      'invalid_request',
      'The request body was read before it reached the API proxy; mount kw.proxy() before body parsers.',
    )
  }
  const headers = { ...req.headers, 'content-length': String(bytes.length) }
  delete headers['transfer-encoding']
  return { body: bytes, headers }
}
