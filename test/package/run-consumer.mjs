// What both consumers do with what they imported: mount keyward, ask it as a browser and an API
// client would, and report. The internal modules must stay out of reach.
import { createRequire } from 'node:module'

export async function run({ express, keyward, KeywardError, ConfigError, kind }) {
  const seen = { kind }
  try {
    keyward({ publicUrl: 'http://app.example.com' })
  } catch (err) {
    seen.configError = err instanceof ConfigError && err.problems.some((p) => p.startsWith('keycloak:'))
  }
  const app = express()
  const server = await new Promise((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s))
  })
  const url = `http://127.0.0.1:${server.address().port}`
  const kw = keyward({
    publicUrl: url,
    keycloak: {
      url: process.env.KEYCLOAK_URL,
      realm: 'keyward',
      clientId: 'keyward-web',
      clientSecret: 'keyward-web-dev-secret',
    },
    secrets: { session: 's'.repeat(32), tokenEncryptionKeys: process.env.TOKEN_ENCRYPTION_KEYS },
    redis: { url: process.env.REDIS_URL, prefix: `consumer-${kind}:` },
    devAllowHttp: true,
    logLevel: 'warn',
  })
  app.use(kw)
  app.get('/me', kw.requireSession(), (req, res) => res.json(req.keyward.user))
  app.use(kw.errorHandler())
  await kw.ready()
  const login = await fetch(`${url}/auth/login?returnTo=/me`, { redirect: 'manual' })
  seen.login = [login.status, new URL(login.headers.get('location')).pathname]
  const me = await fetch(`${url}/me`, { headers: { accept: 'application/json' } })
  seen.me = [me.status, me.headers.get('content-type'), (await me.json()).code]
  seen.errorClass = typeof KeywardError === 'function' && new KeywardError('forbidden', 'x').status === 403
  try {
    createRequire(import.meta.url).resolve('keyward/dist/engine.js')
    seen.internal = 'reachable'
  } catch (err) {
    seen.internal = err.code
  }
  server.close()
  await kw.close()
  console.log(JSON.stringify(seen))
}
