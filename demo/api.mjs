// The demo's upstream API: a resource server as keyward's upstreams are meant to be. It trusts no
// cookie and no header but the bearer token keyward adds, and checks that token itself (signature
// against the realm's keys, issuer, expiry) with jose. It answers who called, through which app's
// client, and until when the token was good; it never echoes or logs the token.
//   DEMO_API_PORT (3001), DEMO_API_HOST (127.0.0.1), DEMO_ISSUER (the realm's public issuer),
//   DEMO_JWKS_URL (where to fetch its keys; default: the issuer's)
import { createServer } from 'node:http'
import { createRemoteJWKSet, jwtVerify } from 'jose'

const port = Number(process.env.DEMO_API_PORT ?? 3001)
const host = process.env.DEMO_API_HOST ?? '127.0.0.1'
const issuer = process.env.DEMO_ISSUER
const keys = createRemoteJWKSet(new URL(process.env.DEMO_JWKS_URL ?? `${issuer}/protocol/openid-connect/certs`))

function answer(res, status, body, type = 'application/json') {
  res.writeHead(status, { 'Content-Type': type, 'Cache-Control': 'no-store' })
  res.end(JSON.stringify(body))
}

const refuse = (res, status, title, detail) =>
  answer(res, status, { title, status, detail }, 'application/problem+json')

createServer(async (req, res) => {
  if (req.method !== 'GET' || new URL(req.url, 'http://api').pathname !== '/hello') {
    return refuse(res, 404, 'Not found', 'This API has one route: GET /hello.')
  }
  const token = /^Bearer (\S+)$/.exec(req.headers.authorization ?? '')?.[1]
  if (!token) return refuse(res, 401, 'No access token', 'keyward adds one; a direct call has none.')
  try {
    const { payload } = await jwtVerify(token, keys, { issuer })
    answer(res, 200, {
      message: `Hello, ${payload.given_name ?? payload.preferred_username}!`,
      user: payload.preferred_username,
      client: payload.azp,
      acr: payload.acr,
      tokenIssuedAt: new Date(payload.iat * 1000).toISOString(),
      tokenExpiresAt: new Date(payload.exp * 1000).toISOString(),
      servedAt: new Date().toISOString(),
    })
  } catch (err) {
    refuse(res, 401, 'The access token was refused', err.code ?? 'invalid token')
  }
}).listen(port, host, () => console.log(`demo API on http://${host}:${port}`))
