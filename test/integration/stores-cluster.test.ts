import { RedisClusterTopology } from '../../harness/redis-topology'
import { openRedis } from '../../src/store/topology'
import { storeContract } from '../support/store-contract'

/** The stores on a Redis Cluster of three primaries: each command and script stays in one slot. */
describe('the stores on a Redis Cluster', () => {
  storeContract(async () => {
    const topology = await RedisClusterTopology.start()
    const redis = openRedis({ kind: 'cluster', nodes: topology.nodes, auth: {}, tls: false })
    await new Promise((resolve) => redis.once('ready', resolve))
    return { redis, close: async () => (redis.disconnect(), await topology.stop()) }
  })
})
