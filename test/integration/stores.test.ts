import { randomBytes } from 'node:crypto'
import { Redis } from 'ioredis'
import { createRefreshLocks } from '../../src/store/refresh-locks'
import { redisKeys } from '../../src/store/keys'
import { createSealer } from '../../src/store/seal'
import { createTokenSessionStore } from '../../src/store/token-sessions'
import type { TokenSession } from '../../src/domain/token-session'
import { redisUrl } from '../../harness/keyward'
import { RedisServer } from '../../harness/redis-server'
import { storeContract } from '../support/store-contract'

describe('the stores on one Redis', () => {
  storeContract(async () => {
    const redis = new Redis(redisUrl())
    return { redis, close: async () => redis.disconnect() }
  })
})

describe('a Redis that cannot serve now (full, loading, a replica) is an outage: 503, not a bug', () => {
  let server: RedisServer
  let own: Redis
  beforeAll(async () => {
    server = await RedisServer.create(['--save', '', '--appendonly', 'no', '--maxmemory-policy', 'noeviction'])
    await server.start()
    own = new Redis(server.url)
  })
  afterAll(async () => {
    own.disconnect()
    await server.stop()
  })

  test('a full Redis refuses writes with OOM: every kind of write answers store_unavailable, reads still work', async () => {
    const keysHere = redisKeys('kwtest:')
    const sessions = createTokenSessionStore(own, keysHere, createSealer([{ kid: 'k1', key: randomBytes(32) }]))
    const live = {
      id: 'full',
      app: 'web',
      kind: 'online',
      sub: 'u',
      claims: {},
      accessExpiresAt: Date.now() + 60_000,
      expiresAt: Date.now() + 60_000,
      createdAt: Date.now(),
      refreshedAt: Date.now(),
      version: 1,
      tokens: { accessToken: 'a' },
    } as TokenSession
    await sessions.create(live)
    await own.config('SET', 'maxmemory', '1')
    try {
      const unavailable = { kind: 'store_unavailable' }
      await expect(sessions.create({ ...live, id: 'another' })).rejects.toMatchObject(unavailable) // MULTI … EXEC
      await expect(sessions.replace({ ...live, version: 2 }, 1)).rejects.toMatchObject(unavailable) // a script
      await expect(createRefreshLocks(own, keysHere, 1000).acquire('full')).rejects.toMatchObject(unavailable) // a plain command
      expect((await sessions.get('full'))!.version).toBe(1)
    } finally {
      await own.config('SET', 'maxmemory', '0')
    }
  })
})
