import { randomBytes } from 'node:crypto'
import type { Server } from 'node:http'
import { Writable } from 'node:stream'
import express, { type Express } from 'express'
import pino from 'pino'
import { keyward, KeywardError, type Keyward, type KeywardOptions } from '../src/index'
import { watchKeyward } from './leaks'
import { keycloakUrl, redisUrl } from './servers'

/** Test keys, the same as harness/keyward.ts's, so a test can open what a host app's keyward sealed. */
export { TEST_KEYS } from './keyward'
import { TEST_KEYS } from './keyward'

/** The middleware's options for a test: the test realm's keyward-web client, a Redis prefix of its own. */
export function testOptions(
  publicUrl: string,
  {
    keycloak,
    ...more
  }: Partial<Omit<KeywardOptions, 'keycloak'>> & { keycloak?: Partial<KeywardOptions['keycloak']> } = {},
): KeywardOptions {
  return {
    publicUrl,
    secrets: { session: randomBytes(32).toString('hex'), tokenEncryptionKeys: TEST_KEYS },
    redis: { url: redisUrl(), prefix: `kwhost:${randomBytes(4).toString('hex')}:` },
    devAllowHttp: true,
    loginRateLimit: 0,
    ...more,
    keycloak: {
      url: keycloakUrl(),
      realm: 'keyward',
      clientId: 'keyward-web',
      clientSecret: 'keyward-web-dev-secret',
      ...keycloak,
    },
  }
}

/**
 * The host application's own routes, as an Express developer would write them: a page and an API
 * behind the guards, a handler that calls an upstream with `req.keyward.accessToken()`, keyward's
 * proxy, and error handlers (keyward's for its errors, the application's for the rest).
 */
export function hostRoutes(app: Express, kw: Keyward, upstream?: string, role = 'realm:host-admin'): void {
  app.get('/me', kw.requireSession(), (req, res) => {
    res.json({ user: req.keyward.user, session: req.keyward.session })
  })
  app.get('/public', (req, res) => {
    res.json({ authenticated: req.keyward.isAuthenticated(), user: req.keyward.user?.preferred_username ?? null })
  })
  app.get('/orders/:id', kw.requireSession(), async (req, res) => {
    // The handler's own call to an API, with a token keyward keeps fresh (never sent to the browser).
    const minValiditySeconds = req.query.min ? Number(req.query.min) : undefined
    const token = await req.keyward.accessToken({ minValiditySeconds })
    const answer = await fetch(`${upstream}/orders/${String(req.params.id)}`, {
      headers: { authorization: `Bearer ${token}` },
    })
    res.status(answer.status).json(answer.ok ? await answer.json() : { upstream: answer.status })
  })
  app.get('/maybe-token', async (req, res) => {
    // No guard: a handler that asks for a token anyway gets keyward's error, for kw.errorHandler().
    await req.keyward.accessToken()
    res.json({ ok: true })
  })
  app.get('/admin-only', kw.requireRole(role), (_req, res) => {
    res.json({ admin: true })
  })
  app.get('/has-role', kw.requireSession(), async (req, res) => {
    res.json({ admin: await req.keyward.hasRole(role) })
  })
  app.get('/verified', kw.requireClaims({ email_verified: true }), (_req, res) => {
    res.json({ verified: true })
  })
  app.post('/notes', kw.requireSession(), (req, res) => {
    res.json({ saved: (req.body as { text?: string } | undefined)?.text ?? null })
  })
  app.post('/logout', kw.csrf(), async (req, res) => {
    res.json(await req.keyward.logout({ returnTo: '/bye' }))
  })
  app.get('/boom', () => {
    throw new Error('the application failed')
  })
  if (upstream) app.use('/api/echo', kw.proxy('echo'))
  // The application's own page for a refusal a browser asked a page of; keyward's problem+json for the rest.
  app.use(((err, req, res, next) => {
    if (!(err instanceof KeywardError && err.code === 'forbidden' && req.accepts(['json', 'html']) === 'html')) {
      return next(err)
    }
    res.status(403).type('html').send(`<h1>${err.title}</h1>`)
  }) as express.ErrorRequestHandler)
  app.use(kw.errorHandler())
  app.use(((err, _req, res, _next) => {
    res.status(500).json({ host: 'error', keyward: err instanceof KeywardError })
  }) as express.ErrorRequestHandler)
}

export interface HostApp {
  url: string
  app: Express
  server: Server
  kw: Keyward
  logs: string[]
  close(): Promise<void>
}

/**
 * A host Express application on 127.0.0.1 with keyward mounted: `before` adds the application's own
 * middleware ahead of keyward (body parsers, express-session…); its log is checked for tokens, and
 * its answers are, like every keyward's.
 */
export async function startHostApp(
  options: {
    keyward?: (publicUrl: string) => KeywardOptions
    before?: (app: Express) => void
    routes?: (app: Express, kw: Keyward) => void
    upstream?: string
    port?: number
  } = {},
): Promise<HostApp> {
  const app = express()
  const server: Server = await new Promise((resolve) => {
    const s = app.listen(options.port ?? 0, '127.0.0.1', () => resolve(s))
  })
  const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`
  const logs: string[] = []
  const logger = pino(
    { level: 'debug' },
    new Writable({ write: (line, _enc, done) => done(void logs.push(String(line))) }),
  )
  const base = options.keyward?.(url) ?? testOptions(url)
  const kw = keyward({
    ...base,
    ...(options.upstream && !base.upstreams ? { upstreams: { echo: options.upstream } } : {}),
    logger,
  })
  watchKeyward(new URL(url).port, () => logs.join(''))
  options.before?.(app)
  app.use(kw)
  ;(options.routes ?? ((a, k) => hostRoutes(a, k, options.upstream)))(app, kw)
  await kw.ready()
  return {
    url,
    app,
    server,
    kw,
    logs,
    async close() {
      server.closeAllConnections()
      await kw.close() // its WebSockets too, which the server would otherwise wait for
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}
