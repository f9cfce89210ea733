import { startKeyward, type RunningKeyward } from '../../harness/keyward'
import { RedisClusterTopology, replicated } from '../../harness/redis-topology'
import { waitUntil } from '../../harness/wait'
import { Upstream } from '../../harness/upstream'
import { storedSession } from '../support/refresh-fixture'
import {
  expectOnlyBriefUnavailability,
  expectSessionsKept,
  loggedInBrowsers,
  topologyBasics,
  underLoad,
} from '../support/redis-topology-suite'

/** keyward on a real Redis Cluster: three primaries and three replicas from redis-server. */
describe('keyward on a Redis Cluster', () => {
  let cluster: RedisClusterTopology
  beforeAll(async () => {
    cluster = await RedisClusterTopology.start()
  })
  afterAll(() => cluster?.stop())

  topologyBasics(() => cluster.env, { topology: 'cluster', clusterState: 'ok', primaries: 3 })

  describe('under load', () => {
    let echo: Upstream
    let kw: RunningKeyward
    beforeEach(async () => {
      await cluster.untilHealthy()
      echo = await Upstream.start('keyward')
      kw = await startKeyward({ ...cluster.env, UPSTREAMS: JSON.stringify({ echo: echo.url }) })
    })
    afterEach(async () => {
      await kw.close()
      await echo.close()
    })

    /** The primary holding the first browser's session record, which the load keeps reading. */
    async function sessionPrimary() {
      const session = (await storedSession(kw))!
      return cluster.primaryOf(session.key)
    }

    test('a manual fail-over (CLUSTER FAILOVER on a replica) mid-load: brief 503s at most, no session lost', async () => {
      const browsers = await loggedInBrowsers(kw, 4)
      const primary = await sessionPrimary()
      const replica = cluster.replicaOf(primary)
      let switchedAt = 0
      const { samples } = await underLoad(kw.url, browsers, async () => {
        replica.cli('cluster', 'failover')
        await cluster.untilHealthy()
        await waitUntil(() => cluster.primaries().some((p) => p.port === replica.port), 30_000, 100, 'replica promoted')
        switchedAt = Date.now()
      })
      expectOnlyBriefUnavailability(samples, switchedAt, 3000)
      await expectSessionsKept(kw, browsers)
    })

    test('a killed primary mid-load: its replica takes over, keyward follows without a restart, no session lost', async () => {
      const browsers = await loggedInBrowsers(kw, 4)
      const primary = await sessionPrimary()
      const replica = cluster.replicaOf(primary)
      await waitUntil(() => replicated(primary, replica), 30_000, 100, 'replica in step')
      let switchedAt = 0
      const { samples } = await underLoad(kw.url, browsers, async () => {
        primary.crash()
        await waitUntil(() => cluster.primaries().some((p) => p.port === replica.port), 30_000, 100, 'replica promoted')
        await cluster.untilHealthy()
        switchedAt = Date.now()
      })
      expectOnlyBriefUnavailability(samples, switchedAt, 3000)
      await expectSessionsKept(kw, browsers)
      // The old primary comes back as its replica's replica, and the cluster is whole again.
      await primary.start()
      await waitUntil(
        () => cluster.primaries().length === 3 && !cluster.primaries().some((p) => p.port === primary.port),
        30_000,
        100,
        'old primary rejoined as a replica',
      )
    })

    // Last: a primary left with no slot becomes a replica of the node that took its last one (Redis 7).
    test('resharding mid-load (every slot of the primary holding the sessions moved): no request fails', async () => {
      const browsers = await loggedInBrowsers(kw, 4)
      const from = await sessionPrimary()
      const to = cluster.primaries().find((p) => p.port !== from.port)!
      const { samples } = await underLoad(kw.url, browsers, () => cluster.reshard(from, to, cluster.slotCount(from)))
      expect(cluster.slotCount(from)).toBe(0)
      expect(samples.filter((s) => ![200, 302].includes(s.status))).toEqual([])
      await expectSessionsKept(kw, browsers)
    })
  })
})
