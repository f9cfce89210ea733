// The demo's upstream API: a resource server as keyward's upstreams are meant to be. It trusts no
// cookie and no header but the bearer token keyward adds, and checks that token itself (signature
// against the realm's keys, issuer, expiry) with jose. GET /hello answers who called, through which
// app's client, and until when the token was good; the WebSocket /live (the `ws` package), whose
// handshake is checked the same way (401 without a good token, no upgrade), sends
// {"count", "user", "servedAt"} each second, counting 1, 2, 3… It never echoes or logs the token.
//   DEMO_API_PORT (3001), DEMO_API_HOST (127.0.0.1), DEMO_ISSUER (the realm's public issuer),
//   DEMO_JWKS_URL (where to fetch its keys; default: the issuer's)
import { createServer, STATUS_CODES } from 'node:http'
import { clearInterval, setInterval } from 'node:timers'
import { createRemoteJWKSet, jwtVerify } from 'jose'
import { WebSocketServer } from 'ws'

const port = Number(process.env.DEMO_API_PORT ?? 3001)
const host = process.env.DEMO_API_HOST ?? '127.0.0.1'
const issuer = process.env.DEMO_ISSUER
const keys = createRemoteJWKSet(new URL(process.env.DEMO_JWKS_URL ?? `${issuer}/protocol/openid-connect/certs`))
const LIVE_INTERVAL_MS = 1000

function answer(res, status, body, type = 'application/json') {
  res.writeHead(status, { 'Content-Type': type, 'Cache-Control': 'no-store' })
  res.end(JSON.stringify(body))
}

const refuse = (res, status, title, detail) =>
  answer(res, status, { title, status, detail }, 'application/problem+json')

/** The caller's verified claims, or the refusal's title and detail: the same check for both routes. */
async function caller(req) {
  const token = /^Bearer (\S+)$/.exec(req.headers.authorization ?? '')?.[1]
  if (!token) return { refused: ['No access token', 'keyward adds one; a direct call has none.'] }
  try {
    return { payload: (await jwtVerify(token, keys, { issuer })).payload }
  } catch (err) {
    return { refused: ['The access token was refused', err.code ?? 'invalid token'] }
  }
}

const server = createServer(async (req, res) => {
  if (req.method !== 'GET' || new URL(req.url, 'http://api').pathname !== '/hello') {
    return refuse(res, 404, 'Not found', 'This API has two routes: GET /hello, and the WebSocket /live.')
  }
  const { payload, refused } = await caller(req)
  if (refused) return refuse(res, 401, ...refused)
  answer(res, 200, {
    message: `Hello, ${payload.given_name ?? payload.preferred_username}!`,
    user: payload.preferred_username,
    client: payload.azp,
    acr: payload.acr,
    tokenIssuedAt: new Date(payload.iat * 1000).toISOString(),
    tokenExpiresAt: new Date(payload.exp * 1000).toISOString(),
    servedAt: new Date().toISOString(),
  })
})

/** A handshake refused over plain HTTP (a problem+json body), then the connection closed: no upgrade. */
function refuseHandshake(socket, status, title, detail) {
  const body = JSON.stringify({ title, status, detail })
  socket.once('finish', () => socket.destroy())
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\n` +
      'Content-Type: application/problem+json\r\nCache-Control: no-store\r\nConnection: close\r\n' +
      `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  )
}

const live = new WebSocketServer({ noServer: true })

server.on('upgrade', async (req, socket, head) => {
  socket.on('error', () => undefined) // a caller gone mid-handshake: nothing to tell it
  if (new URL(req.url, 'http://api').pathname !== '/live') {
    return refuseHandshake(socket, 404, 'Not found', 'This API takes one WebSocket: /live.')
  }
  const { payload, refused } = await caller(req)
  if (refused) return refuseHandshake(socket, 401, ...refused)
  live.handleUpgrade(req, socket, head, (ws) => {
    let count = 0
    const timer = setInterval(() => {
      count += 1
      ws.send(JSON.stringify({ count, user: payload.preferred_username, servedAt: new Date().toISOString() }))
    }, LIVE_INTERVAL_MS)
    ws.once('close', () => clearInterval(timer))
    ws.on('error', (err) => console.error(`demo API: a /live socket failed: ${err.message}`))
  })
})

server.listen(port, host, () => console.log(`demo API on http://${host}:${port}`))
