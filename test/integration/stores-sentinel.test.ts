import { RedisSentinelTopology } from '../../harness/redis-topology'
import { loadConfig } from '../../src/config/load'
import { disconnectRedis, openRedis } from '../../src/store/topology'
import { testEnv } from '../../harness/keyward'
import { storeContract } from '../support/store-contract'

/** The stores on a primary found through Sentinels, with passwords on the data nodes and the Sentinels. */
describe('the stores on a Sentinel-managed primary', () => {
  storeContract(async () => {
    const topology = await RedisSentinelTopology.start()
    const redis = openRedis(
      loadConfig(testEnv({ ...topology.env, PUBLIC_URL: 'http://127.0.0.1:3000' })).redis.topology,
    )
    await new Promise((resolve) => redis.once('ready', resolve))
    return { redis, close: async () => (disconnectRedis(redis), await topology.stop()) }
  })
})
