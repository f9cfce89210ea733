import { randomBytes } from 'node:crypto'
import { Writable } from 'node:stream'
import { setTimeout as sleep } from 'node:timers/promises'
import { testEnv } from '../../harness/keyward'
import { RedisSentinelTopology } from '../../harness/redis-topology'
import { waitUntil } from '../../harness/wait'
import { loadConfig } from '../../src/config/load'
import type { TokenSession } from '../../src/domain/token-session'
import { createLogger } from '../../src/log'
import { redisKeys } from '../../src/store/keys'
import { replicaWaiter } from '../../src/store/replica-wait'
import { createSealer } from '../../src/store/seal'
import { createTokenSessionStore } from '../../src/store/token-sessions'
import { disconnectRedis, openServer, type ServerTopology } from '../../src/store/topology'

const session = (id: string, version = 1): TokenSession => ({
  id,
  app: 'web',
  client: 'web',
  kind: 'online',
  sub: `user-${id}`,
  claims: { sub: `user-${id}` },
  accessExpiresAt: Date.now() + 60_000,
  refreshExpiresAt: Date.now() + 600_000,
  expiresAt: Date.now() + 600_000,
  createdAt: Date.now(),
  refreshedAt: Date.now(),
  version,
  tokens: { accessToken: `access-${id}-${version}`, refreshToken: `refresh-${id}-${version}` },
})

/**
 * Session writes with REDIS_WAIT_REPLICAS=1 through a Sentinel fail-over. The Sentinels promote the
 * replica first and demote the old primary seconds later, which then drops what it took in between:
 * a write keyward answered for must not be among those.
 */
describe('session writes through a Sentinel fail-over', () => {
  let topology: RedisSentinelTopology
  beforeAll(async () => {
    topology = await RedisSentinelTopology.start()
  })
  afterAll(async () => {
    for (const d of topology.data) d.resume()
    await topology.stop()
  })

  function open() {
    const redis = openServer(
      loadConfig(testEnv({ ...topology.env, PUBLIC_URL: 'http://127.0.0.1:3000' })).redis.topology as ServerTopology,
    )
    redis.on('error', () => undefined)
    const lines: string[] = []
    const log = createLogger(
      'warn',
      new Writable({ write: (chunk: Buffer, _enc, done) => (lines.push(chunk.toString()), done()) }),
    )
    const replicas = replicaWaiter(redis, { count: 1, timeoutMs: 100 }, log)
    const prefix = `kw-${randomBytes(4).toString('hex')}:`
    const store = createTokenSessionStore(
      redis,
      redisKeys(prefix),
      createSealer([{ kid: 'k', key: randomBytes(32) }]),
      {
        durably: replicas.durably,
      },
    )
    const close = () => (replicas.close(), disconnectRedis(redis))
    return { redis, store, prefix, lines, close }
  }

  test('every login and refresh that was answered is on the new primary once the old one is demoted', async () => {
    const { redis, store, prefix, close } = open()
    try {
      await new Promise((resolve) => redis.once('ready', resolve))
      const old = topology.primary()
      const created: string[] = []
      const refreshed: string[] = []
      let stop = false
      // Sessions logged in, and each then refreshed once, without pause: some of them land in the
      // moments between the replica's promotion and the client's switch to it.
      const writer = async (lane: number) => {
        for (let i = 0; !stop; i++) {
          const id = `s${lane}-${i}`
          try {
            await store.create(session(id))
            created.push(id)
            if (await store.replace(session(id, 2), 1)) refreshed.push(id)
          } catch {
            await sleep(20) // refused (503) while the switch is on: allowed, unlike a loss
          }
        }
      }
      const writers = Array.from({ length: 16 }, (_, lane) => writer(lane))
      await waitUntil(() => created.length >= 200, 10_000, 20, 'writes under way')
      topology.sentinels[0].cli('sentinel', 'failover', RedisSentinelTopology.master)
      const next = await topology.untilPrimaryIsNot(old)
      // Over once the old primary follows the new one: what it took meanwhile is gone by then.
      await waitUntil(
        () =>
          /role:slave/.test(old.cli('info', 'replication')) &&
          /master_link_status:up/.test(old.cli('info', 'replication')),
        30_000,
        100,
        'the old primary demoted and in step',
      )
      const during = created.length
      await waitUntil(() => created.length >= during + 50, 15_000, 20, 'writes again on the new primary')
      stop = true
      await Promise.all(writers)

      const version = (id: string) => next.cli('hget', `${prefix}tok:{${id}}`, 'v')
      const lost = created.filter((id) => version(id) === '')
      const rolledBack = refreshed.filter((id) => version(id) !== '2')
      expect({ lost, rolledBack }).toEqual({ lost: [], rolledBack: [] })
      expect(created.length).toBeGreaterThan(during)
    } finally {
      close()
    }
  }, 90_000)

  test('with the replica away and no fail-over, a write is kept on the primary after the timeout', async () => {
    const { redis, store, prefix, lines, close } = open()
    try {
      await new Promise((resolve) => redis.once('ready', resolve))
      const primary = topology.primary()
      const replica = topology.data.find((d) => d !== primary)!
      replica.pause()
      try {
        const started = Date.now()
        await store.create(session('kept'))
        expect(Date.now() - started).toBeLessThan(2000)
        expect(primary.cli('hget', `${prefix}tok:{kept}`, 'v')).toBe('1')
        expect(lines.join('')).toContain('session writes not yet on enough replicas')
      } finally {
        replica.resume()
      }
    } finally {
      close()
    }
  })
})
