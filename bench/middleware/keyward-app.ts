/**
 * bench/middleware.ts's keyward app: keyward as Express middleware, and `GET /fresh`, which calls the
 * upstream with `req.keyward.accessToken()`. Settings: see the environment the benchmark gives.
 */
import express from 'express'
import { keyward } from '../../src/index'
import { callUpstream, fail, listen, publicUrl, setting, tokenFacts, useToken } from './common'

const kw = keyward({
  publicUrl,
  keycloak: {
    url: setting('KEYCLOAK_URL'),
    realm: 'keyward',
    clientId: setting('CLIENT_ID'),
    clientSecret: setting('CLIENT_SECRET'),
  },
  // Shared by the two processes of the expiry test: each accepts the other's cookie and sessions.
  secrets: { session: setting('SESSION_SECRET'), tokenEncryptionKeys: setting('TOKEN_KEYS') },
  redis: { url: setting('REDIS_URL'), prefix: setting('REDIS_PREFIX') },
  devAllowHttp: true,
  loginRateLimit: 0,
  logLevel: 'warn',
})

const app = express()
app.use(kw)
app.get('/fresh', kw.requireSession(), async (req, res) => {
  await callUpstream(res, await req.keyward.accessToken())
})
app.get('/token', kw.requireSession(), async (req, res) => {
  useToken(res, await req.keyward.accessToken())
})
app.get('/sid', kw.requireSession(), async (req, res) => {
  res.json(tokenFacts(await req.keyward.accessToken()))
})
app.use(kw.errorHandler())
kw.ready().then(() => listen(app), fail)
