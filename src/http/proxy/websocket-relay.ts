import { decodeJwt } from 'jose'
import WebSocket, { type RawData } from 'ws'
import type { WebSocketPolicy } from '../../config/types'
import type { Metrics, WebSocketCloseReason } from '../../domain/metrics'
import { errorFields, type Logger } from '../../log'
import type { SessionWatch } from '../../sessions/session-watch'

/**
 * The close codes keyward sends a client (docs/websockets.md); an upstream's own close codes pass
 * through as they are.
 */
export const CLOSE_CODES = {
  /** The session ended (logout, revocation, back-channel logout, Keycloak): log in again. */
  sessionEnded: 4001,
  /** The access token the socket opened with expired (`onTokenExpiry: "close"`): open a new one. */
  tokenExpired: 4002,
  /** No message either way for the upstream's idle timeout. */
  idle: 4003,
  /** keyward is shutting down: open a new one (another instance takes it). */
  goingAway: 1001,
  /** A message over the upstream's `maxMessageBytes`. */
  tooBig: 1009,
  /** The upstream's connection broke off without a close. */
  badGateway: 1014,
} as const

/** Bytes queued towards one side before the other side is paused, and below which it resumes. */
const HIGH_WATER = 1 << 20
const LOW_WATER = HIGH_WATER / 4

/** A close code that may be sent on: 1005 and 1006 are only ever reported, never sent. */
const sendable = (code: number) =>
  (code >= 1000 && code <= 1014 && ![1004, 1005, 1006].includes(code)) || (code >= 3000 && code <= 4999)

export interface RelayDeps {
  watch: SessionWatch
  metrics: Pick<Metrics, 'websocketOpened' | 'websocketClosed'>
  log: Logger
  now: () => number
}

/** A client's socket and the upstream's, opened for upstream `name` by session `sessionId` (if any). */
export interface Pair {
  name: string
  policy: WebSocketPolicy
  client: WebSocket
  upstream: WebSocket
  sessionId?: string
  /** The token the upstream's side opened with, for `onTokenExpiry: "close"`. */
  accessToken?: string
  release: () => void
}

/** Closes both sides of a pair with `code` (unless it is closing already), counted as `why`. */
export type CloseBoth = (code: number, why: WebSocketCloseReason, text: string) => void

/**
 * The two sides joined: messages both ways with back-pressure, and every way a socket ends. `release`
 * is called once both sides have closed. Returns what closes both with a code of keyward's.
 */
export function joinSockets(deps: RelayDeps, pair: Pair): CloseBoth {
  const { name, policy, client, upstream, release } = pair
  deps.metrics.websocketOpened(name)
  let reason: WebSocketCloseReason | undefined
  const timers: NodeJS.Timeout[] = []
  const close = (code: number, why: WebSocketCloseReason, text: string) => {
    if (reason) return
    reason = why
    for (const ws of [client, upstream]) ws.close(code, text)
  }
  const unwatch = pair.sessionId
    ? deps.watch.watch(pair.sessionId, () => close(CLOSE_CODES.sessionEnded, 'session_ended', 'session ended'))
    : () => undefined
  const idle = setTimeout(() => close(CLOSE_CODES.idle, 'idle', 'idle'), policy.idleTimeoutMs)
  timers.push(idle)
  const exp = pair.accessToken && policy.onTokenExpiry === 'close' ? decodeJwt(pair.accessToken).exp : undefined
  if (exp !== undefined) {
    // Node's timers hold 2^31 − 1 ms (24.8 days): a token living longer closes its socket then.
    const ms = Math.min(Math.max(0, exp * 1000 - deps.now()), 2 ** 31 - 1)
    timers.push(setTimeout(() => close(CLOSE_CODES.tokenExpired, 'token_expired', 'access token expired'), ms))
  }

  const relay = (from: WebSocket, to: WebSocket) => {
    let paused = false
    const drained = () => {
      if (paused && to.bufferedAmount < LOW_WATER) {
        paused = false
        from.resume()
      }
    }
    from.on('message', (data: RawData, isBinary: boolean) => {
      idle.refresh()
      if (to.readyState !== WebSocket.OPEN) return
      to.send(data, { binary: isBinary }, drained)
      if (!paused && to.bufferedAmount > HIGH_WATER) {
        paused = true
        from.pause()
      }
    })
    // The other side's close, passed on (1005 "none given" as none; a broken-off side as 1014/1001).
    from.once('close', (code: number, text: Buffer) => {
      if (!reason) reason = from === client ? 'client' : 'upstream'
      const passed = sendable(code) ? code : from === upstream && code === 1006 ? CLOSE_CODES.badGateway : undefined
      if (to.readyState === WebSocket.OPEN || to.readyState === WebSocket.CONNECTING) {
        if (passed === undefined && code === 1006) to.close(CLOSE_CODES.goingAway)
        else to.close(passed, passed ? text : undefined)
      }
    })
    from.on('error', (err: Error & { code?: string }) => {
      if (err.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH' && !reason) {
        reason = 'too_big'
        to.close(CLOSE_CODES.tooBig, 'message too big')
      }
      deps.log.debug(
        { upstream: name, side: from === client ? 'client' : 'upstream', error: errorFields(err) },
        'WebSocket error',
      )
    })
  }
  relay(client, upstream)
  relay(upstream, client)

  let ended = 0
  const settle = () => {
    if (++ended < 2) return
    for (const t of timers) clearTimeout(t)
    unwatch()
    release()
    deps.metrics.websocketClosed(name, reason ?? 'client')
  }
  client.once('close', settle)
  upstream.once('close', settle)
  return close
}
