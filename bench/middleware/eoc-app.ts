/**
 * bench/middleware.ts's express-openid-connect app: EOC with connect-redis as its session store, and
 * `GET /fresh`, which refreshes the access token once it has expired and calls the upstream with it.
 */
import { RedisStore } from 'connect-redis'
import express from 'express'
import { auth, requiresAuth } from 'express-openid-connect'
import { Redis } from 'ioredis'
import { callUpstream, listen, publicUrl, setting, tokenFacts, useToken } from './common'

const store = new RedisStore({ client: new Redis(setting('REDIS_URL')), prefix: setting('REDIS_PREFIX') })

const app = express()
app.use(
  auth({
    authRequired: false,
    issuerBaseURL: `${setting('KEYCLOAK_URL')}/realms/keyward`,
    baseURL: publicUrl,
    clientID: setting('CLIENT_ID'),
    clientSecret: setting('CLIENT_SECRET'),
    // Shared by the two processes of the expiry test: each accepts the other's cookie.
    secret: setting('SESSION_SECRET'),
    session: { store: store as never }, // connect-redis is an express-session store, which EOC takes
    authorizationParams: { response_type: 'code', scope: 'openid profile email' },
  }),
)
// As EOC's EXAMPLES.md ("Obtaining and using refresh tokens") has it. A failed refresh rejects, and
// Express answers the error (500).
app.get('/fresh', requiresAuth(), async (req, res) => {
  let accessToken = req.oidc.accessToken!
  if (accessToken.isExpired()) accessToken = await accessToken.refresh()
  await callUpstream(res, accessToken.access_token)
})
app.get('/token', requiresAuth(), async (req, res) => {
  let accessToken = req.oidc.accessToken!
  if (accessToken.isExpired()) accessToken = await accessToken.refresh()
  useToken(res, accessToken.access_token)
})
app.get('/sid', requiresAuth(), (req, res) => {
  res.json(tokenFacts(req.oidc.accessToken!.access_token))
})
listen(app)
