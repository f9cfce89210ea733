import { execFileSync } from 'node:child_process'
import { join } from 'node:path'
import { KeycloakAdmin } from '../../harness/keycloak-admin'
import { keycloakProcessGroup } from '../../harness/keycloak-process'
import { startKeyward } from '../../harness/keyward'
import { bearer, MOBILE, MobileApp } from '../../harness/mobile-app'
import { api, loggedIn, refreshCount, SHORT_CLIENT, untilExpired } from '../support/refresh-fixture'
import { Upstream } from '../../harness/upstream'

// Stops the real Keycloak, so it runs on its own after the parallel suites (scripts/test.sh).
const script = join(__dirname, '../../scripts/keycloak.sh')
const ownKeycloak = keycloakProcessGroup() ? test : test.skip

describe('Keycloak itself stopped and started again', () => {
  ownKeycloak(
    'a refresh due while Keycloak is down answers 503 and keeps the session; after the restart the next call works, offline sessions too',
    async () => {
      const upstream = await Upstream.start()
      const kw = await startKeyward({
        ...SHORT_CLIENT,
        ...MOBILE,
        UPSTREAMS: JSON.stringify({ echo: upstream.url }),
        OIDC_TIMEOUT_SECONDS: '3',
      })
      try {
        const phone = await new MobileApp(kw.url).signIn('bob', { offline: true })
        const { browser, session } = await loggedIn(kw)
        execFileSync('bash', [script, 'stop'], { stdio: 'inherit' })
        await untilExpired(session)

        const down = await browser.request(`${kw.url}/api/echo/me`, { headers: api })
        expect(down.status).toBe(503)
        expect(JSON.parse(down.text)).toMatchObject({ code: 'keycloak_unavailable' })
        expect(down.headers.get('retry-after')).toBe('2')
        expect(await kw.redis.hget(session.key, 'v')).toBe('1')
        expect((await browser.request(`${kw.url}/auth/session`)).status).toBe(200)

        // Keycloak keeps user sessions in its database (dev-file), so the session outlives the restart.
        execFileSync('bash', [script, 'start'], { stdio: ['ignore', 'ignore', 'inherit'] })
        const up = await browser.request(`${kw.url}/api/echo/me`, { headers: api })
        expect(up.status).toBe(200)
        expect(await kw.redis.hget(session.key, 'v')).toBe('2')
        expect(await refreshCount(new KeycloakAdmin(), 'alice', session.sid)).toBe(1)
        // The offline session lives in Keycloak's database, whatever happens to its memory.
        expect((await fetch(`${kw.url}/api/echo/phone`, { headers: bearer(phone) })).status).toBe(200)
        expect(await (await fetch(`${kw.url}/auth/session`, { headers: bearer(phone) })).json()).toMatchObject({
          kind: 'offline',
        })
        await fetch(`${kw.url}/auth/revoke`, { method: 'POST', headers: bearer(phone) })
      } finally {
        await kw.close()
        await upstream.close()
      }
    },
  )
})
