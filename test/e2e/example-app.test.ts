import { randomBytes } from 'node:crypto'
import { cpSync, readFileSync, rmSync } from 'node:fs'
import { basename, join } from 'node:path'
import type { Browser, BrowserContext, Page } from 'playwright-core'
import { launchChromium, observe, screenshot } from '../../harness/chromium'
import { KeycloakAdmin } from '../../harness/keycloak-admin'
import { keycloakUrl, redisUrl, TEST_KEYS, waitUntil } from '../../harness/keyward'
import { scanForTokens, trackScan, watchKeyward } from '../../harness/leaks'
import { packKeyward, scratchApp, scratchDir } from '../../harness/package'
import { spawnTracked, type TrackedProcess } from '../../harness/processes'
import { freePort } from '../../harness/redis-server'
import { addUser } from '../support/keycloak-cli'

const example = join(__dirname, '../../examples/express-app')
const admin = new KeycloakAdmin()

/**
 * examples/express-app, keycloak-connect's example application on keyward, as its README runs it:
 * keyward installed from the packed tarball beside the example's own dependencies, in a folder outside
 * the repository, started with `node index.js` and its environment. Then driven in Chromium: a user
 * without the role logs in on Keycloak's form and is refused the role-gated page, a user with it gets
 * the page, and each logs out, which ends the Keycloak session. No token anywhere the browser looks.
 */
describe('examples/express-app, in Chromium', () => {
  const dir = scratchDir()
  const tag = randomBytes(3).toString('hex')
  const role = `example-${tag}`
  const withoutRole = `ex-${tag}-plain`
  const withRole = `ex-${tag}-role`
  let proc: TrackedProcess
  let browser: Browser
  let url: string
  type Visit = { context: BrowserContext; page: Page; seen: ReturnType<typeof observe> }
  const open: Visit[] = []

  /** A browser context whose answers from the example are scanned for tokens, as fetch's are. */
  async function newVisit(): Promise<Visit> {
    const context = await browser.newContext()
    context.on('response', (response) => {
      if (!response.url().startsWith(`${url}/`)) return
      const where = `${response.request().method()} ${response.url()} (in Chromium)`
      trackScan(
        response
          .allHeaders()
          .then(async (headers) => {
            scanForTokens(`${where} (headers)`, JSON.stringify(headers))
            // A redirect has no body to read.
            if (response.status() < 300 || response.status() >= 400) {
              scanForTokens(`${where} (body)`, await response.text().catch(() => ''))
            }
          })
          .catch(() => undefined), // the context closed meanwhile: nothing more to read
      )
    })
    const visit = { context, seen: observe(context, [url]), page: await context.newPage() }
    open.push(visit)
    return visit
  }

  /** What every context must not have seen: tokens in its URLs, cookies, storage or pages; console errors. */
  async function checkAndClose(visit: Visit, refusals: string[] = []) {
    open.splice(open.indexOf(visit), 1)
    expect(await visit.seen.tokensSeen()).toEqual([])
    expect(visit.seen.problems).toEqual([])
    expect(visit.seen.failedLoads).toEqual(refusals)
    await visit.context.close()
  }

  /** Keycloak's own login page, typed into as a person would. */
  async function typeLogin(page: Page, user: string) {
    await page.waitForURL((u) => u.href.startsWith(`${keycloakUrl()}/realms/keyward/`))
    await page.locator('#username').fill(user)
    await page.locator('#password').fill(`${user}-password`)
    await page.locator('#kc-login').click()
  }

  /** After a logout click: through Keycloak's end-session page (it may ask to confirm) back to `/`. */
  async function backFromKeycloakLogout(page: Page) {
    await page.waitForURL((u) => u.href.startsWith(`${keycloakUrl()}/`) || u.href === `${url}/`)
    if (page.url() !== `${url}/`) {
      await page.locator('#kc-logout').click()
      await page.waitForURL(`${url}/`)
    }
    expect(await page.locator('#events').textContent()).toBe('') // the home page, nobody logged in
  }

  const shown = async (page: Page) => JSON.parse((await page.locator('#output').textContent())!)

  beforeAll(async () => {
    // The example's own dependencies, keyward from the tarball instead of the registry.
    const { dependencies } = JSON.parse(readFileSync(join(example, 'package.json'), 'utf8')) as {
      dependencies: Record<string, string>
    }
    const deps = Object.entries(dependencies)
      .filter(([name]) => name !== 'keyward')
      .map(([name, range]) => `${name}@${range}`)
    const tarball = await packKeyward(dir)
    const app = await scratchApp(dir, tarball.path, deps)
    cpSync(example, app, {
      recursive: true,
      filter: (from) => !['package.json', 'package-lock.json', 'node_modules'].includes(basename(from)),
    })

    // A user of our own with a realm role of our own, and one without it.
    await addUser(admin, withoutRole)
    await addUser(admin, withRole)
    await admin.call('POST', '/roles', { name: role })
    const representation = await admin.call('GET', `/roles/${role}`)
    await admin.call('POST', `/users/${await admin.userId(withRole)}/role-mappings/realm`, [representation])

    const port = await freePort()
    url = `http://127.0.0.1:${port}`
    proc = spawnTracked(process.execPath, ['index.js'], {
      cwd: app,
      label: `examples/express-app on port ${port}`,
      env: {
        PORT: String(port),
        PUBLIC_URL: url,
        KEYCLOAK_URL: keycloakUrl(),
        KEYCLOAK_REALM: 'keyward',
        CLIENT_ID: 'keyward-web',
        CLIENT_SECRET: 'keyward-web-dev-secret',
        REDIS_URL: redisUrl(),
        REDIS_PREFIX: `example-app:${tag}:`,
        SESSION_SECRET: randomBytes(32).toString('hex'),
        TOKEN_ENCRYPTION_KEYS: TEST_KEYS,
        PROTECTED_ROLE: `realm:${role}`,
      },
    })
    watchKeyward(port, proc.output)
    await waitUntil(() => proc.output().includes(`Example app listening at ${url}`), 60_000, 100).catch(() => {
      throw new Error(`the example did not start:\n${proc.output()}`)
    })
    browser = await launchChromium()
  }, 300_000)

  afterAll(async () => {
    for (const visit of open.splice(0)) await visit.context.close().catch(() => undefined)
    await browser?.close()
    await proc?.kill()
    for (const user of [withoutRole, withRole]) {
      await admin
        .userId(user)
        .then((id) => admin.call('DELETE', `/users/${id}`))
        .catch(() => undefined)
    }
    await admin.call('DELETE', `/roles/${role}`).catch(() => undefined)
    rmSync(dir, { recursive: true, force: true })
  }, 60_000)

  let plain: Visit // the user without the role, over three tests

  test("the home page is the original's: title, the three links, empty Result and Events", async () => {
    plain = await newVisit()
    const { page } = plain
    const home = await page.goto(`${url}/`)
    expect(home!.status()).toBe(200)
    expect(await page.locator('h1').textContent()).toBe('NodeJS Keycloak Example')
    expect(await page.locator('.nav a').allTextContents()).toEqual(['Login', 'Protected Resource', 'Logout'])
    expect(await page.locator('#output').textContent()).toBe('')
    expect(await page.locator('#events').textContent()).toBe('')
    await screenshot(page, 'example-01-home')
  })

  test("Login: Keycloak's form, then /login shows the user's claims and session, and no token", async () => {
    const { page } = plain
    await page.getByRole('link', { name: 'Login' }).click()
    await typeLogin(page, withoutRole)
    await page.waitForURL(`${url}/login`)
    const { user, session } = await shown(page)
    expect(user).toMatchObject({ preferred_username: withoutRole, email: `${withoutRole}@example.com` })
    expect(session).toMatchObject({ app: 'web', kind: 'online', client: 'web' })
    expect(Date.parse(session.accessTokenExpiresAt)).toBeGreaterThan(Date.now())
    expect(await page.locator('#events').textContent()).toBe('1. Authentication\n2. Login')
    expect(await page.content()).not.toMatch(/access_token|refresh_token|id_token/)
    await screenshot(page, 'example-02-login')
  }, 60_000)

  test('Protected Resource without the role: 403, problem+json forbidden naming the role', async () => {
    const { page } = plain
    const answered = page.waitForResponse(`${url}/protected/resource`)
    await page.getByRole('link', { name: 'Protected Resource' }).click()
    const response = await answered
    expect(response.status()).toBe(403)
    expect(response.headers()['content-type']).toMatch(/^application\/problem\+json/)
    expect(await response.json()).toMatchObject({
      status: 403,
      code: 'forbidden',
      detail: `The role realm:${role} is required.`,
    })
    await screenshot(page, 'example-03-forbidden')
  })

  test('the /logout page: its button ends the Keycloak session, and the browser comes back to /', async () => {
    const { page } = plain
    expect(await admin.userSessions(withoutRole)).toHaveLength(1)
    await page.goto(`${url}/logout`)
    expect(await page.locator('#events').textContent()).toBe(
      `Logged in as ${withoutRole}: press "Log out" to end the session.`,
    )
    await screenshot(page, 'example-04-logout-page')
    // Visiting the page logged nobody out: only its button does (a POST with X-CSRF).
    expect(await admin.userSessions(withoutRole)).toHaveLength(1)
    const loggedOut = page.waitForResponse(
      (r) => r.url() === `${url}/logout?returnTo=/` && r.request().method() === 'POST',
    )
    await page.locator('#logout').click()
    expect((await loggedOut).status()).toBe(200)
    await backFromKeycloakLogout(page)
    expect(await admin.userSessions(withoutRole)).toEqual([])
    await screenshot(page, 'example-05-logged-out')
    await checkAndClose(plain, ['403 /protected/resource'])
  }, 60_000)

  test('a user with the role: Protected Resource sends them to the login and back, 200 with the page', async () => {
    const visit = await newVisit()
    const { page } = visit
    await page.goto(`${url}/`)
    await page.getByRole('link', { name: 'Protected Resource' }).click()
    await typeLogin(page, withRole)
    await page.waitForURL(`${url}/protected/resource`)
    expect(await page.locator('#events').textContent()).toBe(
      `1. Access granted: the session holds the role realm:${role}\n`,
    )
    expect((await shown(page)).user).toMatchObject({ preferred_username: withRole })
    const again = await page.reload()
    expect(again!.status()).toBe(200)
    await screenshot(page, 'example-06-protected-resource')
    expect(await admin.userSessions(withRole)).toHaveLength(1)

    // The nav's Logout link: one click, as in the original, through Keycloak back to /.
    const loggedOut = page.waitForResponse(
      (r) => r.url() === `${url}/logout?returnTo=/` && r.request().method() === 'POST',
    )
    await page.getByRole('link', { name: 'Logout' }).click()
    expect((await loggedOut).status()).toBe(200)
    await backFromKeycloakLogout(page)
    expect(await admin.userSessions(withRole)).toEqual([])
    await screenshot(page, 'example-07-logged-out')

    // Logged out here and at Keycloak: the page asks for a login again, with Keycloak's form.
    await page.getByRole('link', { name: 'Protected Resource' }).click()
    await page.waitForURL((u) => u.href.startsWith(`${keycloakUrl()}/realms/keyward/`))
    await page.locator('#username').waitFor()
    await page.goto(`${url}/`)
    await checkAndClose(visit)
  }, 90_000)

  test('SIGTERM stops it: keyward closed, the port free', async () => {
    expect(await proc.kill('SIGTERM')).toBe(0)
    await expect(fetch(`${url}/`)).rejects.toThrow()
    expect(proc.output()).not.toMatch(/"level":(50|60)/) // no error logged by keyward
  })
})
