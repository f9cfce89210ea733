import { Writable } from 'node:stream'
import { Redis } from 'ioredis'
import { RedisServer } from '../../harness/redis-server'
import { waitUntil } from '../../harness/keyward'
import type { TokenSession } from '../../src/domain/token-session'
import { createLogger } from '../../src/log'
import { createSessionCache, type SessionCache } from '../../src/store/session-cache'
import { connectionOptions } from '../../src/store/topology'

// The session cache against a real redis-server of its own: Redis's tracking messages, reconnects
// and restarts are the point. Sessions here are stand-ins read from a plain hash.
describe('the session cache (CLIENT TRACKING)', () => {
  let server: RedisServer
  let redis: Redis
  const caches: SessionCache[] = []
  let reads = 0
  /** Set to hold a read back, once Redis has answered it, until the test lets it go. */
  let holdRead: Promise<void> | undefined
  /** Called when Redis has answered a read. */
  let answered: (() => void) | undefined

  beforeAll(async () => {
    server = await RedisServer.create(['--save', '', '--appendonly', 'yes'])
    await server.start()
    redis = new Redis(server.url)
  })
  afterEach(async () => Promise.all(caches.splice(0).map((c) => c.close())))
  afterAll(async () => {
    redis.disconnect()
    await server.stop()
  })

  function open(maxAgeMs = 60_000, maxEntries = 100, logged: string[] = []): SessionCache {
    const c = createSessionCache({
      open: (extra) => new Redis(server.url, { ...connectionOptions(), ...extra }),
      keyOf: (id) => `t:{${id}}`,
      read: async (connection, id) => {
        reads++
        const h = await connection.hgetall(`t:{${id}}`)
        answered?.()
        await holdRead
        return h.v ? ({ id, version: Number(h.v), expiresAt: Date.now() + 60_000 } as TokenSession) : undefined
      },
      direct: redis,
      maxAgeMs,
      maxEntries,
      log: createLogger('debug', new Writable({ write: (line, _enc, done) => done(void logged.push(String(line))) })),
    })
    caches.push(c)
    return c
  }

  const readsFor = async (run: () => Promise<unknown>) => {
    const before = reads
    await run()
    return reads - before
  }

  async function cache(maxAgeMs = 60_000, maxEntries = 100): Promise<SessionCache> {
    const logged: string[] = []
    const c = open(maxAgeMs, maxEntries, logged)
    // Tracking is on once a read is served from memory. (Not "two reads, one from Redis": tracking
    // may come on between the two, and then every later pair is served from memory.)
    await redis.hset('t:{probe}', 'v', 1)
    await waitUntil(
      async () => {
        await c.get('probe')
        return (await readsFor(() => c.get('probe'))) === 0
      },
      10_000,
      20,
    ).catch((err: Error) => {
      throw new Error(`${err.message}; the cache logged:\n${logged.join('')}`)
    })
    return c
  }

  test("while its own connection is still connecting, a read goes through the store's connection", async () => {
    await redis.hset('t:{g}', 'v', 1)
    const c = open() // its reader queues nothing while offline, and is not connected yet
    expect((await c.get('g'))!.version).toBe(1)
  })

  test('a session read once is served from memory until someone writes it; then it is read again', async () => {
    const c = await cache()
    await redis.hset('t:{a}', 'v', 1)
    expect(await readsFor(() => c.get('a'))).toBe(1)
    expect(await readsFor(async () => expect((await c.get('a'))!.version).toBe(1))).toBe(0)
    await redis.hset('t:{a}', 'v', 2) // another instance refreshed it
    await waitUntil(async () => (await c.get('a'))!.version === 2, 1000, 5)
    await redis.del('t:{a}') // another instance logged it out
    await waitUntil(async () => (await c.get('a')) === undefined, 1000, 5)
  })

  test('an expiry at Redis reaches the cache like a write; a missing session is never cached', async () => {
    const c = await cache()
    await redis.hset('t:{b}', 'v', 1)
    await c.get('b')
    await redis.pexpire('t:{b}', 50)
    await waitUntil(async () => (await c.get('b')) === undefined, 2000, 20)
    expect(await readsFor(() => c.get('b'))).toBe(1)
    expect(await readsFor(() => c.get('b'))).toBe(1)
  })

  test('a write that arrives while a read is on its way keeps that read out of the cache', async () => {
    const c = await cache()
    await redis.hset('t:{c}', 'v', 1)
    let release!: () => void
    holdRead = new Promise((r) => (release = r))
    const read = new Promise<void>((r) => (answered = r))
    const pending = c.get('c')
    await read // Redis has answered v=1; the answer is held before it is cached
    answered = undefined
    await redis.hset('t:{c}', 'v', 2) // its invalidation arrives while the read is held
    await new Promise((r) => setTimeout(r, 100))
    holdRead = undefined
    release()
    expect((await pending)!.version).toBe(1)
    expect((await c.get('c'))!.version).toBe(2) // read again, not the stale v=1
  })

  test('no entry is used past its maximum age, invalidation or not', async () => {
    const c = await cache(200)
    await redis.hset('t:{d}', 'v', 1)
    await c.get('d')
    expect(await readsFor(() => c.get('d'))).toBe(0)
    await new Promise((r) => setTimeout(r, 250))
    expect(await readsFor(() => c.get('d'))).toBe(1)
  })

  test('the oldest entries go when the cache is full', async () => {
    const c = await cache(60_000, 3)
    for (const id of ['e1', 'e2', 'e3', 'e4']) {
      await redis.hset(`t:{${id}}`, 'v', 1)
      await c.get(id)
    }
    expect(c.size).toBe(3)
    expect(await readsFor(() => c.get('e1'))).toBe(1)
    expect(await readsFor(() => c.get('e4'))).toBe(0)
  })

  test('Redis restarts: the cache empties, then tracks again, and a write after the restart still reaches it', async () => {
    const c = await cache()
    await redis.hset('t:{f}', 'v', 1)
    await c.get('f')
    await server.stop()
    await waitUntil(async () => c.size === 0, 2000, 10)
    await server.start()
    await waitUntil(async () => (await readsFor(() => c.get('f').catch(() => undefined))) === 0, 10_000, 50)
    await redis.hset('t:{f}', 'v', 3)
    await waitUntil(async () => (await c.get('f'))!.version === 3, 1000, 5)
  })
})
