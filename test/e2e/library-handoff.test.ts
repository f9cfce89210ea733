import { randomBytes } from 'node:crypto'
import { Browser } from '../../harness/browser'
import { freePort } from '../../harness/redis-server'
import { startHostApp, testOptions, type HostApp } from '../../harness/host-app'
import { KeycloakAdmin } from '../../harness/keycloak-admin'
import { Upstream } from '../../harness/upstream'
import { addUser } from '../support/keycloak-cli'

const admin = new KeycloakAdmin()
const api = { accept: 'application/json', 'x-csrf': '1' }

/**
 * Two host applications, each with keyward of its own (their own Redis prefixes: two deployments),
 * one handing its session to the other by token exchange: `siblings` in the middleware's options.
 */
describe('handoff between two applications using the middleware', () => {
  const user = `handoff-${randomBytes(3).toString('hex')}`
  let upstream: Upstream
  let a: HostApp
  let b: HostApp
  beforeAll(async () => {
    upstream = await Upstream.start()
    await addUser(admin, user)
    const portB = await freePort()
    const urlB = `http://localhost:${portB}`
    a = await startHostApp({
      upstream: upstream.url,
      keyward: (url) =>
        testOptions(url, { siblings: [{ id: 'sibling', publicUrl: urlB, clientId: 'keyward-sibling' }] }),
    })
    b = await startHostApp({
      port: portB,
      upstream: upstream.url,
      keyward: () =>
        testOptions(urlB, {
          appId: 'sibling',
          keycloak: { clientId: 'keyward-sibling', clientSecret: 'keyward-sibling-dev-secret' },
          siblings: [{ id: 'web', publicUrl: a.url, clientId: 'keyward-web', handoff: false }],
        }),
    })
  })
  afterAll(async () => {
    await b?.close()
    await a?.close()
    await upstream?.close()
  })

  test('A hands the session to B: B redeems the code at A, exchanges it as its own client, and has its own session', async () => {
    const browser = new Browser()
    await browser.login(a.url, user, `${user}-password`)
    const started = await browser.request(`${a.url}/auth/handoff`, {
      method: 'POST',
      headers: { ...api, 'content-type': 'application/json' },
      body: JSON.stringify({ target: 'sibling', returnTo: '/me' }),
    })
    expect(started.status).toBe(200)
    const { url } = JSON.parse(started.text) as { url: string }
    const urlB = b.url.replace('127.0.0.1', 'localhost')
    expect(url).toMatch(new RegExp(`^${urlB}/auth/handoff/complete\\?code=[A-Za-z0-9_-]{43}&from=web$`))
    const landed = await browser.request(url)
    expect([landed.status, landed.headers.get('location')]).toEqual([302, '/me'])

    const me = async (base: string) => JSON.parse((await browser.request(`${base}/me`, { headers: api })).text)
    const onA = await me(a.url)
    const onB = await me(urlB)
    expect(onB.user.preferred_username).toBe(user)
    expect(onB.session).toMatchObject({ app: 'sibling', keycloakSessionId: onA.session.keycloakSessionId })
    expect(JSON.parse((await browser.request(`${urlB}/orders/1`, { headers: api })).text)).toMatchObject({
      azp: 'keyward-sibling',
    })
    const [kcSession] = (await admin.userSessions(user)).filter((s) => s.id === onA.session.keycloakSessionId)
    expect(Object.values(kcSession.clients).sort()).toEqual(['keyward-sibling', 'keyward-web'])

    // B may not hand sessions back (handoff: false), and knows no other app.
    const back = await browser.request(`${urlB}/auth/handoff`, {
      method: 'POST',
      headers: { ...api, 'content-type': 'application/json' },
      body: JSON.stringify({ target: 'web' }),
    })
    expect([back.status, JSON.parse(back.text).code]).toEqual([403, 'handoff_not_allowed'])
  })
})
