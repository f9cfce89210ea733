import { Browser } from '../../harness/browser'
import { startKeyward, type RunningKeyward } from '../../harness/keyward'
import { RedisSentinelTopology, replicated } from '../../harness/redis-topology'
import { waitUntil } from '../../harness/wait'
import { Upstream } from '../../harness/upstream'
import {
  expectOnlyBriefUnavailability,
  expectSessionsKept,
  loggedInBrowsers,
  topologyBasics,
  underLoad,
} from '../support/redis-topology-suite'
import { api, storedSession } from '../support/refresh-fixture'

/** keyward on a primary and a replica that three real Sentinels watch, with passwords everywhere. */
describe('keyward on a Sentinel-managed Redis', () => {
  let sentinel: RedisSentinelTopology
  beforeAll(async () => {
    sentinel = await RedisSentinelTopology.start()
  })
  afterAll(() => sentinel?.stop())

  topologyBasics(() => sentinel.env, { topology: 'sentinel' })

  describe('REDIS_WAIT_REPLICAS: a session write reaches the replica before keyward answers', () => {
    /**
     * A logout while the replica is stopped for `pausedMs`: how long it took, whether the replica still
     * held the session when the answer came, and the log.
     */
    async function logoutWithReplicaPaused(env: Record<string, string>, pausedMs: number) {
      const kw = await startKeyward({ ...sentinel.env, ...env })
      const replica = sentinel.data.find((d) => d !== sentinel.primary())!
      try {
        const browser = new Browser()
        await browser.login(kw.url, 'alice', 'alice-password')
        const session = (await storedSession(kw))!
        await waitUntil(() => replicated(sentinel.primary(), replica), 30_000, 100, 'replica in step')
        replica.pause()
        const resume = setTimeout(() => replica.resume(), pausedMs)
        const started = Date.now()
        const out = await browser.request(`${kw.url}/auth/logout`, { method: 'POST', headers: api })
        const tookMs = Date.now() - started
        expect(out.status).toBe(200)
        // Only once awake can the replica be asked; before, it cannot have the deletion.
        const onReplica = tookMs >= pausedMs ? replica.cli('exists', session.key) === '1' : true
        clearTimeout(resume)
        return { tookMs, onReplica, logs: kw.logs.join('') }
      } finally {
        replica.resume()
        await kw.close()
      }
    }

    test('with 1: a logout answers only once the replica has the deletion', async () => {
      const { tookMs, onReplica } = await logoutWithReplicaPaused(
        { REDIS_WAIT_REPLICAS: '1', REDIS_WAIT_TIMEOUT_MS: '5000' },
        600,
      )
      expect(tookMs).toBeGreaterThanOrEqual(550)
      expect(onReplica).toBe(false)
    })

    test('with 1 and a replica slower than the timeout: the logout answers after the timeout, and says so in the log', async () => {
      const { tookMs, logs } = await logoutWithReplicaPaused(
        { REDIS_WAIT_REPLICAS: '1', REDIS_WAIT_TIMEOUT_MS: '150' },
        2000,
      )
      expect(tookMs).toBeGreaterThanOrEqual(140)
      expect(tookMs).toBeLessThan(1800) // well before the replica wakes, on a busy machine too
      expect(logs).toContain('session writes not yet on enough replicas')
    })

    test('with 0 (the default): the logout does not wait for the replica', async () => {
      const { tookMs } = await logoutWithReplicaPaused({}, 2000)
      expect(tookMs).toBeLessThan(1800)
    })
  })

  describe('under load', () => {
    let echo: Upstream
    let kw: RunningKeyward
    beforeEach(async () => {
      echo = await Upstream.start('keyward')
      kw = await startKeyward({ ...sentinel.env, UPSTREAMS: JSON.stringify({ echo: echo.url }) })
    })
    afterEach(async () => {
      await kw.close()
      await echo.close()
    })

    test('SENTINEL FAILOVER mid-load: keyward follows the new primary, brief 503s at most, no session lost', async () => {
      const browsers = await loggedInBrowsers(kw, 4)
      const old = sentinel.primary()
      let switchedAt = 0
      const { samples } = await underLoad(kw.url, browsers, async () => {
        sentinel.sentinels[0].cli('sentinel', 'failover', RedisSentinelTopology.master)
        await sentinel.untilPrimaryIsNot(old)
        switchedAt = Date.now()
      })
      expectOnlyBriefUnavailability(samples, switchedAt, 3000)
      await expectSessionsKept(kw, browsers)
    })

    test('a killed primary mid-load: the Sentinels promote the replica, keyward follows without a restart', async () => {
      const browsers = await loggedInBrowsers(kw, 4)
      const old = sentinel.primary()
      const replica = sentinel.data.find((d) => d !== old)!
      await waitUntil(() => replicated(old, replica), 30_000, 100, 'replica in step')
      let switchedAt = 0
      const { samples } = await underLoad(kw.url, browsers, async () => {
        old.crash()
        await sentinel.untilPrimaryIsNot(old)
        switchedAt = Date.now()
      })
      expectOnlyBriefUnavailability(samples, switchedAt, 3000)
      await expectSessionsKept(kw, browsers)
      // The old primary returns as a replica of the new one: the pair is whole for what follows.
      await old.start()
      await waitUntil(
        () => /master_link_status:up/.test(old.cli('info', 'replication')),
        30_000,
        100,
        'old primary back as a replica',
      )
    })
  })
})
