import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core'
import { findJwts } from './leaks'

/** Debian's Chromium (`apt-get install chromium`, scripts/ensure-chromium.sh): no browser is downloaded. */
export const CHROMIUM = process.env.KEYWARD_CHROMIUM ?? '/usr/bin/chromium'

/** Where the browser suites keep their screenshots (KEYWARD_SCREENSHOT_DIR; named in the README). */
export const SCREENSHOTS = process.env.KEYWARD_SCREENSHOT_DIR ?? join(__dirname, '..', 'test-results', 'screenshots')

/**
 * Headless Chromium; Playwright adds `--no-sandbox` itself, which running as root needs. Names under
 * `localhost` (the demo's app-a.localhost) go to 127.0.0.1, where keyward listens: Chromium would
 * otherwise resolve them to loopback itself, maybe to ::1 first.
 */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--host-resolver-rules=MAP *.localhost 127.0.0.1'],
  })
}

export async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(SCREENSHOTS, { recursive: true })
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true })
}

/**
 * What a browser context saw, for the checks every browser test makes: every URL it requested or
 * navigated to (fragments included); the console errors, uncaught exceptions and CSP violations of
 * the pages of `origins` (Keycloak's own pages are not keyward's to judge), and its answers that failed.
 */
export function observe(context: BrowserContext, origins: string[]) {
  const urls: string[] = []
  const problems: string[] = []
  const ours = (url: string | undefined) => !!url && origins.some((origin) => url.startsWith(`${origin}/`))
  context.on('request', (request) => urls.push(request.url()))
  context.on('page', (page) => {
    page.on('framenavigated', (frame) => urls.push(frame.url()))
    page.on('pageerror', (err) => ours(page.url()) && problems.push(`uncaught: ${err.message}`))
  })
  const failedLoads: string[] = []
  context.on('console', (message) => {
    const where = message.location().url || message.page()?.url()
    if (message.type() !== 'error' || !ours(where)) return
    // Chromium reports each 4xx/5xx answer as a console error too: those are kept apart, as
    // "<status> <path>", for the test to say which it expects. A CSP violation is a console error
    // ("Refused to …"), report-only ones too.
    const status = /^Failed to load resource: the server responded with a status of (\d+)/.exec(message.text())
    if (status) failedLoads.push(`${status[1]} ${new URL(where!).pathname}`)
    else problems.push(`console: ${message.text()}`)
  })
  return {
    urls,
    problems,
    failedLoads,
    /**
     * Tokens anywhere the browser kept or showed something: the URLs, cookies, local storage and
     * IndexedDB, each open page's session storage and HTML. Keycloak's own login cookies (path
     * `/realms/…`; KEYCLOAK_IDENTITY is a JWT of its own, `typ: Serialized-ID`) are Keycloak's.
     */
    async tokensSeen(): Promise<string[]> {
      const { cookies, origins } = await context.storageState({ indexedDB: true })
      const state = JSON.stringify({ cookies: cookies.filter((c) => !c.path.startsWith('/realms/')), origins })
      const pages = await Promise.all(
        context
          .pages()
          .map(async (page) => (await page.content()) + (await page.evaluate(() => JSON.stringify(sessionStorage)))),
      )
      return findJwts([...urls, state, ...pages].join('\n'))
    },
  }
}
