import { rmSync } from 'node:fs'
import { join } from 'node:path'
import { keycloakUrl, redisUrl, TEST_KEYS, waitUntil } from '../../harness/keyward'
import { watchKeyward } from '../../harness/leaks'
import { packedFiles, packKeyward, run, scratchApp, scratchDir, type Tarball } from '../../harness/package'
import { spawnTracked } from '../../harness/processes'
import { freePort } from '../../harness/redis-server'

const consumers = join(__dirname, '../package')
const env = { KEYCLOAK_URL: keycloakUrl(), REDIS_URL: redisUrl(), TOKEN_ENCRYPTION_KEYS: TEST_KEYS }

/**
 * keyward as a user gets it: packed with `npm pack`, installed from the tarball into a new Express
 * application outside the repository, and used there from TypeScript (strict), ES modules and
 * CommonJS, and through its two commands.
 */
describe('the npm package', () => {
  const dir = scratchDir()
  let tarball: Tarball
  let app: string
  beforeAll(async () => {
    tarball = await packKeyward(dir)
    app = await scratchApp(
      dir,
      tarball.path,
      ['express@^5', 'typescript@~6.0.3', '@types/express@^5', '@types/node@^20'],
      [
        `${consumers}/consumer.ts`,
        `${consumers}/tsconfig.json`,
        `${consumers}/consumer.mjs`,
        `${consumers}/consumer.cjs`,
        `${consumers}/run-consumer.mjs`,
      ],
    )
  }, 300_000)
  afterAll(() => rmSync(dir, { recursive: true, force: true }))

  test('holds the compiled library, its types, the README, the licence and the changelog: no source, test, fixture or secret', async () => {
    const files = await packedFiles()
    expect(files).toEqual(
      expect.arrayContaining(['dist/index.js', 'dist/index.d.ts', 'dist/server/main.js', 'dist/setup/cli.js']),
    )
    const outside = files.filter(
      (f) => !f.startsWith('dist/') && !['package.json', 'README.md', 'LICENSE', 'CHANGELOG.md'].includes(f),
    )
    expect(outside).toEqual([])
    expect(files.filter((f) => /\.(ts|map)$/.test(f) && !f.endsWith('.d.ts'))).toEqual([])
    expect(files.filter((f) => /(^|\/)(\.env|test|harness|keycloak|demo|bench)(\/|$)/.test(f))).toEqual([])
    // Recorded in the README ("The package"); a jump means something came along that should not.
    expect(tarball.size).toBeLessThan(240_000)
  })

  test('a TypeScript application compiles against it under strict, req.keyward typed', async () => {
    const compiled = await run(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.json'], {
      cwd: app,
    })
    expect(compiled).toEqual({ code: 0, out: '' })
  })

  test.each(['consumer.mjs', 'consumer.cjs'])(
    '%s imports it, mounts it in Express, and the internal modules stay out of reach',
    async (file) => {
      const ran = await run(process.execPath, [file], { cwd: app, env })
      expect(ran.code).toBe(0)
      const seen = JSON.parse(ran.out.trim().split('\n').at(-1)!)
      expect(seen).toEqual({
        kind: file.endsWith('.mjs') ? 'esm' : 'cjs',
        configError: true,
        login: [302, '/realms/keyward/protocol/openid-connect/auth'],
        me: [401, 'application/problem+json; charset=utf-8', 'not_authenticated'],
        errorClass: true,
        internal: 'ERR_PACKAGE_PATH_NOT_EXPORTED',
      })
    },
  )

  test('npx keyward runs the standalone server from the same configuration as npm start', async () => {
    const port = await freePort()
    const server = spawnTracked('npx', ['keyward'], {
      cwd: app,
      label: 'npx keyward',
      env: {
        ...env,
        PORT: String(port),
        PUBLIC_URL: `http://127.0.0.1:${port}`,
        KEYCLOAK_REALM: 'keyward',
        OIDC_CLIENT_ID: 'keyward-web',
        OIDC_CLIENT_SECRET: 'keyward-web-dev-secret',
        SESSION_SECRET: 'p'.repeat(32),
        DEV_ALLOW_HTTP: 'true',
        WORKERS: '1',
        REDIS_PREFIX: 'npx-keyward:',
      },
    })
    watchKeyward(port, server.output)
    try {
      await waitUntil(async () => (await fetch(`http://127.0.0.1:${port}/readyz`)).ok, 30_000)
      const login = await fetch(`http://127.0.0.1:${port}/auth/login`, { redirect: 'manual' })
      expect(login.status).toBe(302)
    } finally {
      await server.kill('SIGTERM') // npx and keyward alike (npx passes on no signal)
    }
    // A wrong configuration names the variable, as `npm start` does.
    const wrong = await run('npx', ['keyward'], { cwd: app, env: { PATH: process.env.PATH, KEYCLOAK_URL: 'nowhere' } })
    expect(wrong.code).toBe(2)
    expect(wrong.out).toContain('KEYCLOAK_URL: the Keycloak base URL')
  })

  test('npx keyward-keycloak doctor checks the realm against that configuration', async () => {
    const doctor = await run('npx', ['keyward-keycloak', 'doctor'], {
      cwd: app,
      env: {
        ...env,
        PUBLIC_URL: 'http://127.0.0.1:3000',
        KEYCLOAK_REALM: 'keyward',
        OIDC_CLIENT_ID: 'keyward-web',
        OIDC_CLIENT_SECRET: 'keyward-web-dev-secret',
        SESSION_SECRET: 'p'.repeat(32),
        DEV_ALLOW_HTTP: 'true',
        KEYCLOAK_ADMIN_USER: process.env.KEYCLOAK_ADMIN_USER ?? 'admin',
        KEYCLOAK_ADMIN_PASSWORD: process.env.KEYCLOAK_ADMIN_PASSWORD ?? 'admin',
      },
    })
    expect(doctor.out).toContain(`realm keyward at ${new URL(keycloakUrl()).origin}; apps: web (keyward-web)`)
    expect(doctor.out).toMatch(/^doctor: (no problems|\d+ problem\(s\))$/m)
    expect([0, 1]).toContain(doctor.code)
  })
})
