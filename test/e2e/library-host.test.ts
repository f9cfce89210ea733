import { createHash, randomBytes } from 'node:crypto'
import type { Server } from 'node:http'
import cookieParser from 'cookie-parser'
import express from 'express'
import session from 'express-session'
import { Redis } from 'ioredis'
import { Browser } from '../../harness/browser'
import { hostRoutes, startHostApp, testOptions, type HostApp } from '../../harness/host-app'
import { watchKeyward } from '../../harness/leaks'
import { keyward } from '../../src/index'
import { KeycloakAdmin } from '../../harness/keycloak-admin'
import { redisUrl } from '../../harness/keyward'
import { Upstream } from '../../harness/upstream'
import { addUser } from '../support/keycloak-cli'

declare module 'express-session' {
  interface SessionData {
    visits?: number
  }
}

const admin = new KeycloakAdmin()
const api = { accept: 'application/json', 'x-csrf': '1' }
const sha256 = (text: string) => createHash('sha256').update(text).digest('hex')

/** What the application around keyward may already have, and how it runs: keyward must fit in. */
describe('keyward() beside what a host application already has', () => {
  let upstream: Upstream
  const user = `host-${randomBytes(3).toString('hex')}`
  const running: HostApp[] = []
  const start = async (options: Parameters<typeof startHostApp>[0]) => {
    const host = await startHostApp({ upstream: upstream.url, ...options })
    running.push(host)
    return host
  }
  beforeAll(async () => {
    upstream = await Upstream.start()
    await addUser(admin, user)
  })
  afterEach(async () => Promise.all(running.splice(0).map((h) => h.close())))
  afterAll(() => upstream.close())

  test("the application's body parsers, cookie-parser and express-session before keyward: nothing of either is broken", async () => {
    const host = await start({
      before: (app) => {
        app.use(express.json(), express.urlencoded({ extended: false }), cookieParser('host-cookie-secret'))
        app.use(session({ name: 'host.sid', secret: 'host-session-secret', resave: false, saveUninitialized: true }))
      },
      routes: (app, kw) => {
        app.get('/visits', (req, res) => {
          req.session.visits = (req.session.visits ?? 0) + 1
          res.json({ visits: req.session.visits, signed: Object.keys(req.signedCookies ?? {}) })
        })
        hostRoutes(app, kw, upstream.url)
      },
    })
    const browser = new Browser()
    const visit = async () => JSON.parse((await browser.request(`${host.url}/visits`)).text).visits as number
    expect(await visit()).toBe(1)
    const hostCookie = async () => (await browser.jar.getCookies(host.url)).find((c) => c.key === 'host.sid')?.value

    const before = await hostCookie()
    await browser.login(host.url, user, `${user}-password`, '/auth/login?returnTo=/me')
    expect(await hostCookie()).toBe(before) // keyward's login neither read nor replaced the application's session
    expect(await visit()).toBe(2)
    const keywardCookie = (await browser.jar.getCookies(host.url)).find((c) => c.key === 'keyward')!
    expect(keywardCookie.value).not.toBe(before)
    expect(JSON.parse((await browser.request(`${host.url}/me`, { headers: api })).text).user.preferred_username).toBe(
      user,
    )

    // The application's own route gets its parsed body; keyward's proxy sends on what the parsers read.
    const json = JSON.stringify({ text: 'hello', n: 1 })
    const note = await browser.request(`${host.url}/notes`, {
      method: 'POST',
      headers: { ...api, 'content-type': 'application/json' },
      body: json,
    })
    expect(JSON.parse(note.text)).toEqual({ saved: 'hello' })
    for (const [type, body] of [
      ['application/json', json],
      ['application/x-www-form-urlencoded', 'a=1&b=two+words'],
    ]) {
      const sent = await browser.request(`${host.url}/api/echo/things`, {
        method: 'POST',
        headers: { ...api, 'content-type': type },
        body,
      })
      expect(sent.status).toBe(200)
      expect(JSON.parse(sent.text)).toMatchObject({ method: 'POST', bodyLength: body.length, bodySha256: sha256(body) })
    }

    // keyward's own POST routes, whose bodies the application's parsers read first, work too.
    const sid = JSON.parse((await browser.request(`${host.url}/me`, { headers: api })).text).session.keycloakSessionId
    const out = await browser.request(`${host.url}/auth/logout`, {
      method: 'POST',
      headers: { ...api, 'content-type': 'application/json' },
      body: '{}',
    })
    expect(out.status).toBe(200)
    expect((await admin.userSessions(user)).map((s) => s.id)).not.toContain(sid)
    expect(await visit()).toBe(3)
    expect(await hostCookie()).toBe(before)
  })

  test("the application's trust proxy setting is what keyward believes of X-Forwarded-For (the login limit)", async () => {
    const limited = (url: string) => testOptions(url, { loginRateLimit: 2 })
    const behindProxy = await start({ keyward: limited, before: (app) => app.set('trust proxy', 1) })
    const direct = await start({ keyward: limited })
    const login = (host: HostApp, from: string) =>
      fetch(`${host.url}/auth/login`, { redirect: 'manual', headers: { 'x-forwarded-for': from } })
    const statuses = async (host: HostApp, froms: string[]) =>
      Promise.all(froms.map(async (from) => (await login(host, from)).status))
    // Behind the application's proxy, each forwarded address has its own count…
    expect(await statuses(behindProxy, ['203.0.113.1', '203.0.113.2', '203.0.113.3'])).toEqual([302, 302, 302])
    expect(await statuses(behindProxy, ['203.0.113.9', '203.0.113.9', '203.0.113.9'])).toContain(429)
    // …and without it the header is not believed: every login counts against this machine's address.
    expect(await statuses(direct, ['203.0.113.1', '203.0.113.2', '203.0.113.3'])).toContain(429)
  })

  test('two keyward instances in one process: two apps, two clients, two prefixes; closing one leaves the other', async () => {
    const one = await start({ keyward: (url) => testOptions(url, { cookie: { name: 'kw-one' } }) })
    const two = await start({
      keyward: (url) =>
        testOptions(url, {
          appId: 'two',
          cookie: { name: 'kw-two' },
          routes: { prefix: '/account' },
          keycloak: { clientId: 'keyward-short', clientSecret: 'keyward-short-dev-secret' },
        }),
    })
    const a = new Browser()
    const b = new Browser()
    await a.login(one.url, user, `${user}-password`, '/auth/login?returnTo=/me')
    const hops = await b.login(two.url, user, `${user}-password`, '/account/login?returnTo=/me')
    expect(hops.some((h) => h.url.startsWith(`${two.url}/account/callback`))).toBe(true)
    const me = async (browser: Browser, host: HostApp) =>
      JSON.parse((await browser.request(`${host.url}/me`, { headers: api })).text).session
    expect(await me(a, one)).toMatchObject({ app: 'web' })
    expect(await me(b, two)).toMatchObject({ app: 'two' })
    // A page of the second app without a session goes to its own login.
    const page = await fetch(`${two.url}/me`, { redirect: 'manual', headers: { accept: 'text/html' } })
    expect(page.headers.get('location')).toBe('/account/login?returnTo=%2Fme')

    await one.close()
    running.splice(running.indexOf(one), 1)
    expect(await me(b, two)).toMatchObject({ app: 'two' })
    expect((await b.request(`${two.url}/orders/1`, { headers: api })).status).toBe(200)
  })

  test("two instances in one Express app: each guard reads its own instance's session; req.keyward is the first's", async () => {
    const app = express()
    const server = await new Promise<Server>((resolve) => {
      const s = app.listen(0, '127.0.0.1', () => resolve(s))
    })
    const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`
    const kwA = keyward({
      ...testOptions(url, { cookie: { name: 'kw-a' }, routes: { prefix: '/a' } }),
      logLevel: 'warn',
    })
    const kwB = keyward({
      ...testOptions(url, {
        appId: 'b',
        cookie: { name: 'kw-b' },
        routes: { prefix: '/b' },
        keycloak: { clientId: 'keyward-short', clientSecret: 'keyward-short-dev-secret' },
      }),
      logLevel: 'warn',
    })
    watchKeyward(new URL(url).port, () => '')
    try {
      app.use(kwA, kwB)
      app.get('/only-a', kwA.requireSession(), (req, res) => res.json({ app: req.keyward.session?.app }))
      app.get('/only-b', kwB.requireSession(), (_req, res) => res.json({ ok: true }))
      app.use(kwA.errorHandler())
      await Promise.all([kwA.ready(), kwB.ready()])
      const browser = new Browser()
      await browser.login(url, user, `${user}-password`, '/b/login?returnTo=/only-b')
      expect((await browser.request(`${url}/only-b`, { headers: api })).status).toBe(200)
      expect(JSON.parse((await browser.request(`${url}/only-a`, { headers: api })).text)).toMatchObject({
        code: 'not_authenticated',
      })
    } finally {
      server.closeAllConnections()
      server.close()
      await Promise.all([kwA.close(), kwB.close()])
    }
  })

  test("the application's own ioredis client: used, and still open after kw.close()", async () => {
    const client = new Redis(redisUrl(), { enableOfflineQueue: false, lazyConnect: true })
    await client.connect()
    try {
      const host = await start({
        keyward: (url) => testOptions(url, { redis: { client, prefix: `kwgiven:${randomBytes(4).toString('hex')}:` } }),
      })
      const browser = new Browser()
      await browser.login(host.url, user, `${user}-password`)
      expect((await browser.request(`${host.url}/orders/1`, { headers: api })).status).toBe(200)
      await host.close()
      running.splice(running.indexOf(host), 1)
      expect(await client.ping()).toBe('PONG')
    } finally {
      client.disconnect()
    }
  })
})
