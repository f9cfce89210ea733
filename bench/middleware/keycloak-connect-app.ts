/**
 * bench/middleware.ts's keycloak-connect app: express-session with connect-redis, keycloak-connect's
 * middleware, and `GET /fresh` behind `keycloak.protect()`, which calls the upstream with the grant's
 * access token (keycloak-connect refreshes it once expired, in its grant attacher, before protect).
 */
import { RedisStore } from 'connect-redis'
import express, { type Request } from 'express'
import session from 'express-session'
import { Redis } from 'ioredis'
import Keycloak from 'keycloak-connect'
import { callUpstream, listen, setting, tokenFacts, useToken } from './common'

const store = new RedisStore({ client: new Redis(setting('REDIS_URL')), prefix: setting('REDIS_PREFIX') })

const app = express()
// As keycloak-connect's example app has it (resave: false, saveUninitialized: true); the secret is
// shared by the two processes of the expiry test, so each accepts the other's cookie.
app.use(session({ secret: setting('SESSION_SECRET'), resave: false, saveUninitialized: true, store }))
// Its config as keycloak.json would give it. `credentials` is read by the adapter but missing from its
// typings, hence the cast.
const config = {
  realm: 'keyward',
  'auth-server-url': setting('KEYCLOAK_URL'),
  resource: setting('CLIENT_ID'),
  credentials: { secret: setting('CLIENT_SECRET') },
  'bearer-only': false,
  'ssl-required': 'none',
}
const keycloak = new Keycloak({ store }, config as unknown as Keycloak.KeycloakConfig)
app.use(keycloak.middleware())

/** What keycloak-connect puts on the request (not in its typings). */
type WithGrant = Request & { kauth: { grant: { access_token: { token: string } } } }

app.get('/fresh', keycloak.protect(), async (req, res) => {
  await callUpstream(res, (req as WithGrant).kauth.grant.access_token.token)
})
app.get('/token', keycloak.protect(), (req, res) => {
  useToken(res, (req as WithGrant).kauth.grant.access_token.token)
})
app.get('/sid', keycloak.protect(), (req, res) => {
  res.json(tokenFacts((req as WithGrant).kauth.grant.access_token.token))
})
listen(app)
