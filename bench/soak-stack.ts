/**
 * What the soak runs against, and the faults it injects into it: a Keycloak of its own (so that it
 * may restart it), its realm, Redis behind Sentinel, an upstream that checks tokens, and two keyward
 * processes serving two apps each.
 */
import { execFile } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { KeycloakAdmin } from '../harness/keycloak-admin'
import { testEnv, waitUntil } from '../harness/keyward'
import { spawnKeyward, type KeywardProcess } from '../harness/keyward-process'
import { APP_URI } from '../harness/mobile-app'
import { processTree } from '../harness/processes'
import { freePort, type RedisServer } from '../harness/redis-server'
import { RedisSentinelTopology } from '../harness/redis-topology'
import { tempDir } from '../harness/temp-dir'
import { Upstream } from '../harness/upstream'
import { median, type AtExit } from './lib'

const root = join(__dirname, '..')
const execFileAsync = promisify(execFile)

export const REALM = 'keyward-soak'
/** The realm's access-token lifespan (SOAK_ACCESS_TOKEN_SECONDS): with the sessions, what sets Keycloak's refresh rate. */
export const ACCESS_TOKEN_SECONDS = Number(process.env.SOAK_ACCESS_TOKEN_SECONDS ?? 30)
export const CLIENTS = { web: 'keyward-web', sibling: 'keyward-sibling' } as const

/** scripts/keycloak.sh for the soak's own instance, beside the usual one on 8180. */
function keycloakScript(command: 'start' | 'stop'): Promise<{ stdout: string }> {
  return execFileAsync('bash', [join(root, 'scripts/keycloak.sh'), command], {
    env: {
      ...process.env,
      KEYCLOAK_PORT: process.env.SOAK_KEYCLOAK_PORT ?? '8280',
      KEYCLOAK_MANAGEMENT_PORT: process.env.SOAK_KEYCLOAK_MANAGEMENT_PORT ?? '9280',
      // kc.sh gives a development Keycloak outside a container 512 MB of heap: thousands of sessions,
      // persistent, and their stored events outgrew it (OutOfMemoryError at minute 31 of a run).
      JAVA_OPTS_KC_HEAP: process.env.SOAK_KEYCLOAK_HEAP ?? '-Xms1g -Xmx4g',
      // The restart fault is a restart, not a crash: Keycloak may take its time writing its sessions.
      KEYCLOAK_STOP_SECONDS: '300',
    },
  })
}

export async function startKeycloak(): Promise<string> {
  const url = (await keycloakScript('start')).stdout.trim().split('\n').pop()!
  process.env.KEYWARD_TEST_KEYCLOAK_URL = url // what the harness (admin client, upstream) reads
  return url
}

export const stopKeycloak = () => keycloakScript('stop')

/**
 * The soak's realm, made afresh from the demo realm's two clients: short access tokens, refresh
 * tokens rotated and good once, events recorded (REFRESH_TOKEN is how refreshes are counted), and
 * back-channel logout sent to the first keyward process, which is never killed.
 */
export async function createRealm(users: string[], backchannelBase: string): Promise<KeycloakAdmin> {
  const demo = JSON.parse(readFileSync(join(root, 'keycloak/keyward-realm.json'), 'utf8')) as {
    clients: { clientId: string; attributes: Record<string, string> }[]
  } & Record<string, unknown>
  const client = (clientId: string) => {
    const found = demo.clients.find((c) => c.clientId === clientId)!
    const { 'access.token.lifespan': _own, ...attributes } = found.attributes // the realm's lifespan, for both
    return {
      ...found,
      attributes: { ...attributes, 'backchannel.logout.url': `${backchannelBase}/auth/backchannel-logout` },
    }
  }
  const admin = new KeycloakAdmin(REALM)
  await admin.drop().catch(() => undefined) // left by a run that could not clean up
  await admin.create({
    ...Object.fromEntries(Object.entries(demo).filter(([k]) => !['realm', 'clients', 'users'].includes(k))),
    displayName: 'keyward soak',
    accessTokenLifespan: ACCESS_TOKEN_SECONDS,
    revokeRefreshToken: true,
    // docs/operations.md's advice with rotation on: 1 lets a session survive a refresh whose rotated
    // token was lost (a process killed, Keycloak stopping, a fail-over); SOAK_MAX_REUSE=0 shows the loss.
    refreshTokenMaxReuse: Number(process.env.SOAK_MAX_REUSE ?? 1),
    eventsEnabled: true,
    clients: [client(CLIENTS.web), client(CLIENTS.sibling)],
    users: users.map((username, i) => ({
      username,
      enabled: true,
      email: `${username}@example.test`,
      emailVerified: true,
      firstName: 'Soak',
      lastName: `User ${i}`,
      credentials: [{ type: 'password', value: `${username}-password`, temporary: false }],
      realmRoles: [`default-roles-${REALM}`], // offline_access among them: "remember me" needs it
    })),
  })
  return admin
}

/** One keyward process: its port, its metrics port, and the process itself (replaced on restart). */
export interface KeywardNode {
  name: string
  port: number
  metricsPort: number
  proc: KeywardProcess
  /** The app `web` on 127.0.0.1, `sibling` (sessions handed over from `web`) on localhost. */
  base(host: '127.0.0.1' | 'localhost'): string
  pids(): number[]
}

/**
 * keyward from dist/ (`npm run build` first), `WORKERS=2`, serving `web` (which mobile apps log in to
 * as well, and which hands sessions to `sibling`) and `sibling`, each app on this process's own port.
 */
export async function startKeyward(
  name: string,
  port: number,
  shared: Record<string, string>,
  upstream: string,
): Promise<KeywardNode> {
  const app = (id: string, host: string, clientId: string) => ({
    id,
    publicUrl: `http://${host}:${port}`,
    clientId,
    clientSecretEnv: `${id.toUpperCase()}_SECRET`,
    cookieName: id,
  })
  const file = join(tempDir('soak-config'), 'apps.json')
  writeFileSync(
    file,
    JSON.stringify({
      apps: [
        { ...app('web', '127.0.0.1', CLIENTS.web), handoffTargets: ['sibling'], mobileRedirectUris: [APP_URI] },
        app('sibling', 'localhost', CLIENTS.sibling),
      ],
    }),
  )
  const metricsPort = await freePort()
  const env = {
    ...shared,
    KEYWARD_CONFIG: file,
    PORT: String(port),
    METRICS_PORT: String(metricsPort),
    UPSTREAMS: JSON.stringify({ up: upstream }),
  }
  const node: KeywardNode = {
    name,
    port,
    metricsPort,
    proc: await spawnReady(env, port),
    base: (host) => `http://${host}:${port}`,
    pids: () => processTree(node.proc.child.pid!),
  }
  return node
}

async function spawnReady(env: Record<string, string>, port: number): Promise<KeywardProcess> {
  const proc = spawnKeyward(env, { built: true })
  try {
    const died = proc.exited.then((code) => Promise.reject(new Error(`keyward exited with ${code}`)))
    await Promise.race([waitUntil(async () => (await fetch(`http://127.0.0.1:${port}/readyz`)).ok, 60_000, 200), died])
    await waitUntil(async () => processTree(proc.child.pid!).length === Number(env.WORKERS) + 1, 10_000, 50)
  } catch (err) {
    await proc.kill()
    throw new Error(`keyward on port ${port} did not become ready:\n${proc.output()}`, { cause: err })
  }
  return proc
}

/** Everything the two keyward processes share: Redis (through Sentinel), secrets, the realm. */
export function sharedEnv(keycloakUrl: string, topology: RedisSentinelTopology): Record<string, string> {
  const {
    OIDC_CLIENT_ID: _id,
    OIDC_CLIENT_SECRET: _secret,
    ...env
  } = testEnv({
    ...topology.env,
    KEYCLOAK_URL: keycloakUrl,
    KEYCLOAK_REALM: REALM,
    WEB_SECRET: 'keyward-web-dev-secret',
    SIBLING_SECRET: 'keyward-sibling-dev-secret',
    WORKERS: '2',
    LOG_LEVEL: 'warn',
    // A few users hold all the sessions: no cap (the default, 50 per user, would end the oldest).
    MAX_SESSIONS_PER_USER: '0',
    // With refresh tokens rotated, a rotated token that a killed primary took with it ends the session:
    // writes wait for the replica, as docs/operations.md ("What asynchronous replication can lose") says.
    REDIS_WAIT_REPLICAS: '1',
  })
  return env
}

export interface Stack {
  keycloakUrl: string
  admin: KeycloakAdmin
  topology: RedisSentinelTopology
  upstream: Upstream
  nodes: KeywardNode[]
  shared: Record<string, string>
}

/** Starts everything, each part stopped at exit (keyward first, Keycloak last). */
export async function startStack(atExit: AtExit, users: string[]): Promise<Stack> {
  const keycloakUrl = await startKeycloak()
  atExit(() => stopKeycloak())
  const ports = [await freePort(), await freePort()]
  const admin = await createRealm(users, `http://127.0.0.1:${ports[0]}`)
  atExit(() => admin.drop())
  const topology = await RedisSentinelTopology.start()
  atExit(() => topology.stop())
  const upstream = await Upstream.start(REALM)
  atExit(() => upstream.close())
  const shared = sharedEnv(keycloakUrl, topology)
  const nodes: KeywardNode[] = []
  for (const [i, port] of ports.entries()) {
    const node = await startKeyward(`keyward-${'AB'[i]}`, port, shared, upstream.url)
    atExit(() => node.proc.kill('SIGTERM')) // the process of the moment: a restart replaces it
    nodes.push(node)
  }
  return { keycloakUrl, admin, topology, upstream, nodes, shared }
}

/** A fault: it runs from its start until `inject` resolves (the system is whole again). */
export interface Fault {
  name: string
  keycloakDown?: boolean
  inject(stack: Stack): Promise<void>
}

/** How long a client-credentials grant at the soak's Keycloak takes: its speed under the soak's load. */
async function grantMs(keycloakUrl: string): Promise<number> {
  const started = performance.now()
  const res = await fetch(`${keycloakUrl}/realms/${REALM}/protocol/openid-connect/token`, {
    method: 'POST',
    body: new URLSearchParams({
      grant_type: 'client_credentials',
      client_id: CLIENTS.sibling,
      client_secret: 'keyward-sibling-dev-secret',
    }),
    signal: AbortSignal.timeout(30_000),
  }).catch(() => undefined)
  await res?.body?.cancel()
  return res?.ok ? performance.now() - started : Infinity
}

/**
 * Until Keycloak, restarted, answers as quickly as it did before (five grants in a row within twice
 * the time before, or 100 ms more), for five minutes at most. A restarted Keycloak is cold, and works
 * off the refreshes of every token that expired while it was away: until then the fault lasts.
 */
async function asQuickAsBefore(keycloakUrl: string, beforeMs: number): Promise<void> {
  const quick = Math.max(2 * beforeMs, beforeMs + 100)
  let inRow = 0
  await waitUntil(
    async () => {
      inRow = (await grantMs(keycloakUrl)) <= quick ? inRow + 1 : 0
      return inRow >= 5
    },
    300_000,
    1000,
    `Keycloak answering grants within ${quick.toFixed(0)} ms`,
  ).catch((err: Error) => console.log(`${err.message}: the fault's window ends anyway`))
}

/**
 * Until the Sentinels name a primary other than `old`, and `old` is its replica, in sync. (The
 * Sentinels turn `old` into a replica some ten seconds after the switch; longer on a busy machine.)
 */
async function switchedFrom(topology: RedisSentinelTopology, old: RedisServer): Promise<void> {
  await topology.untilPrimaryIsNot(old)
  const replicating = () => /role:slave[\s\S]*master_link_status:up/.test(old.cli('info', 'replication'))
  await waitUntil(replicating, 180_000, 500).catch((err: Error) => {
    throw new Error(`the old primary is not replicating the new one: ${old.cli('info', 'replication')}`, { cause: err })
  })
}

export const FAULTS: Fault[] = [
  {
    name: 'Sentinel fail-over',
    async inject({ topology }) {
      const old = topology.primary()
      topology.sentinels[0].cli('sentinel', 'failover', RedisSentinelTopology.master)
      await switchedFrom(topology, old)
    },
  },
  {
    name: 'Redis primary SIGKILLed, back as a replica',
    async inject({ topology }) {
      const old = topology.primary()
      old.crash()
      await topology.untilPrimaryIsNot(old)
      await old.start() // empty, as a primary; the Sentinels turn it into the new primary's replica
      await switchedFrom(topology, old)
    },
  },
  {
    name: 'Keycloak restarted',
    keycloakDown: true,
    async inject({ keycloakUrl }) {
      const before = median(await Promise.all([1, 2, 3, 4, 5].map(() => grantMs(keycloakUrl))))
      const stopped = Date.now()
      await stopKeycloak()
      await startKeycloak()
      const started = Date.now()
      await asQuickAsBefore(keycloakUrl, before)
      console.log(
        `Keycloak: down ${((started - stopped) / 1000).toFixed(1)} s, then ${((Date.now() - started) / 1000).toFixed(1)} s ` +
          `until its grants took what they did before (${before.toFixed(0)} ms)`,
      )
    },
  },
  {
    name: 'keyward-B SIGKILLed and restarted',
    async inject({ nodes, shared, upstream }) {
      const node = nodes[1]
      await node.proc.kill('SIGKILL')
      const again = await startKeyward(node.name, node.port, shared, upstream.url)
      Object.assign(node, { proc: again.proc, metricsPort: again.metricsPort })
    },
  },
  {
    name: 'upstream slow',
    async inject({ upstream }) {
      upstream.delayMs = Number(process.env.SOAK_SLOW_MS ?? 2000)
      await new Promise((r) => setTimeout(r, Number(process.env.SOAK_SLOW_SECONDS ?? 30) * 1000))
      upstream.delayMs = 0
    },
  },
]
