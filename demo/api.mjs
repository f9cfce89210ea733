// The demo's upstream API: a resource server as keyward's upstreams are meant to be. It trusts no
// cookie and no header but the access token keyward adds, and checks that token itself (signature
// against the realm's keys, issuer, expiry) with jose. A token bound to a key (DPoP, `cnf.jkt`) must
// come as `Authorization: DPoP` with a proof made with that key for this request (dpop-check.mjs);
// as a bare bearer token it is refused. GET /hello answers who called, through which app's client,
// until when the token was good and, for a bound token, its key's thumbprint; the WebSocket /live (the
// `ws` package), whose handshake is checked the same way (401 without a good token, no upgrade),
// sends {"count", "user", "servedAt"} each second, counting 1, 2, 3… It never echoes or logs a token.
//   DEMO_API_PORT (3001), DEMO_API_HOST (127.0.0.1), DEMO_ISSUER (the realm's public issuer),
//   DEMO_JWKS_URL (where to fetch its keys; default: the issuer's), DEMO_DPOP_NONCE=1 (proofs must
//   carry the API's DPoP-Nonce, RFC 9449 §9)
import { createServer, STATUS_CODES } from 'node:http'
import { clearInterval, setInterval } from 'node:timers'
import { createRemoteJWKSet, jwtVerify } from 'jose'
import { WebSocketServer } from 'ws'
import { checkProof, dpopNonces, DPoPRefusal } from './dpop-check.mjs'

const port = Number(process.env.DEMO_API_PORT ?? 3001)
const host = process.env.DEMO_API_HOST ?? '127.0.0.1'
const issuer = process.env.DEMO_ISSUER
const keys = createRemoteJWKSet(new URL(process.env.DEMO_JWKS_URL ?? `${issuer}/protocol/openid-connect/certs`))
const LIVE_INTERVAL_MS = 1000
const nonces = dpopNonces(process.env.DEMO_DPOP_NONCE === '1')

function answer(res, status, body, type = 'application/json', headers = {}) {
  res.writeHead(status, { 'Content-Type': type, 'Cache-Control': 'no-store', ...headers })
  res.end(JSON.stringify(body))
}

const refuse = (res, status, [title, detail, headers]) =>
  answer(res, status, { title, status, detail }, 'application/problem+json', headers)

/** The challenge of a refused DPoP use, with the nonce to use next when the API asks for one. */
const dpopChallenge = (error) => ({
  'WWW-Authenticate': `DPoP error="${error}", algs="ES256 ES384 PS256 RS256 EdDSA"`,
  ...(nonces.enabled ? { 'DPoP-Nonce': nonces.current() } : {}),
})

/**
 * The caller's verified claims (and, for a DPoP-bound token, its key's thumbprint), or the refusal's
 * title, detail and headers: the same check for both routes.
 */
async function caller(req) {
  const [, scheme, token] = /^(Bearer|DPoP) (\S+)$/i.exec(req.headers.authorization ?? '') ?? []
  if (!token) return { refused: ['No access token', 'keyward adds one; a direct call has none.'] }
  let payload
  try {
    payload = (await jwtVerify(token, keys, { issuer })).payload
  } catch (err) {
    return { refused: ['The access token was refused', err.code ?? 'invalid token'] }
  }
  const dpop = scheme.toLowerCase() === 'dpop'
  if (!payload.cnf?.jkt) {
    return dpop
      ? { refused: ['The access token was refused', 'DPoP was used with a token bound to no key'] }
      : { payload }
  }
  if (!dpop) {
    const detail = 'this token is bound to a key (DPoP): a bearer use of it is refused'
    return { refused: ['The access token was refused', detail, dpopChallenge('invalid_token')] }
  }
  try {
    const url = `http://${req.headers.host}${new URL(req.url, 'http://api').pathname}`
    return { payload, jkt: await checkProof(req, url, token, payload, nonces) }
  } catch (err) {
    if (!(err instanceof DPoPRefusal)) throw err
    return { refused: ['The DPoP proof was refused', err.message, dpopChallenge(err.error)] }
  }
}

const server = createServer(async (req, res) => {
  if (req.method !== 'GET' || new URL(req.url, 'http://api').pathname !== '/hello') {
    return refuse(res, 404, ['Not found', 'This API has two routes: GET /hello, and the WebSocket /live.'])
  }
  const { payload, jkt, refused } = await caller(req)
  if (refused) return refuse(res, 401, refused)
  answer(res, 200, {
    message: `Hello, ${payload.given_name ?? payload.preferred_username}!`,
    user: payload.preferred_username,
    client: payload.azp,
    acr: payload.acr,
    tokenIssuedAt: new Date(payload.iat * 1000).toISOString(),
    tokenExpiresAt: new Date(payload.exp * 1000).toISOString(),
    ...(jkt ? { dpopKeyThumbprint: jkt } : {}),
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
  if (refused) return refuseHandshake(socket, 401, ...refused.slice(0, 2))
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
