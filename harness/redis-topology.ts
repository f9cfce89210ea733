import { execFile, execFileSync } from 'node:child_process'
import { promisify } from 'node:util'
import { Cluster, Redis } from 'ioredis'
import type { RedisClient } from '../src/store/topology'
import { RedisServer, type TlsFiles } from './redis-server'
import { waitUntil } from './wait'

const execFileAsync = promisify(execFile)

/** The replica has applied everything its primary wrote. */
export function replicated(primary: RedisServer, replica: RedisServer): boolean {
  const offset = (server: RedisServer, field: string) =>
    Number(new RegExp(`^${field}:(\\d+)`, 'm').exec(server.cli('info', 'replication'))?.[1] ?? -1)
  return offset(primary, 'master_repl_offset') === offset(replica, 'slave_repl_offset')
}

/** Every key matching `pattern`, by SCAN (over each primary of a Cluster): no KEYS, in tests too. */
export async function scanKeys(client: RedisClient, pattern: string): Promise<string[]> {
  const servers = client instanceof Cluster ? client.nodes('master') : [client]
  const found = await Promise.all(
    servers.map(async (server) => {
      const keys: string[] = []
      let cursor = '0'
      do {
        const [next, batch] = await server.scan(cursor, 'MATCH', pattern, 'COUNT', 1000)
        keys.push(...batch)
        cursor = next
      } while (cursor !== '0')
      return keys
    }),
  )
  return [...new Set(found.flat())].sort()
}

/**
 * A Redis Cluster of three primaries with a replica each, from redis-server on loopback ports
 * (`redis-cli --cluster create`). A node is judged failed after 1 s, so fail-overs take seconds.
 */
export class RedisClusterTopology {
  private constructor(readonly servers: RedisServer[]) {}

  /** With `tls`, every node speaks TLS only, on its client port and its cluster bus. */
  static async start(tls?: TlsFiles): Promise<RedisClusterTopology> {
    const servers = await Promise.all(
      Array.from({ length: 6 }, () =>
        RedisServer.create(
          [
            ['--save', '', '--appendonly', 'no'],
            ['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--cluster-node-timeout', '1000'],
            tls ? ['--tls-cluster', 'yes'] : [],
          ].flat(),
          { tls },
        ),
      ),
    )
    const cluster = new RedisClusterTopology(servers)
    try {
      await Promise.all(servers.map((s) => s.start()))
      execFileSync(
        'redis-cli',
        [
          ...(tls ? ['--tls', '--cacert', tls.ca] : []),
          '--cluster',
          'create',
          ...servers.map((s) => `127.0.0.1:${s.port}`),
          '--cluster-replicas',
          '1',
          '--cluster-yes',
        ],
        { stdio: 'ignore' },
      )
      await cluster.untilHealthy()
    } catch (err) {
      await cluster.stop()
      throw err
    }
    return cluster
  }

  get nodes(): { host: string; port: number }[] {
    return this.servers.map((s) => s.address)
  }

  /** `REDIS_CLUSTER_NODES` for keyward: every node, as an operator would list the seeds. */
  get env(): Record<string, string> {
    return { REDIS_CLUSTER_NODES: this.nodes.map((n) => `${n.host}:${n.port}`).join(',') }
  }

  client(): Cluster {
    return new Cluster(this.nodes, { scaleReads: 'master' })
  }

  /** Each live server's view: its role, and whether it thinks every slot is served. */
  private views(): { server: RedisServer; role: string; state: string }[] {
    return this.servers
      .filter((s) => s.answers())
      .map((server) => ({
        server,
        role: /^role:(\w+)/m.exec(server.cli('info', 'replication'))?.[1] ?? '?',
        state: /^cluster_state:(\w+)/m.exec(server.cli('cluster', 'info'))?.[1] ?? '?',
      }))
  }

  primaries(): RedisServer[] {
    return this.views()
      .filter((v) => v.role === 'master')
      .map((v) => v.server)
  }

  /** The replica of `primary`. */
  replicaOf(primary: RedisServer): RedisServer {
    const replica = this.views().find(
      (v) =>
        v.role === 'slave' &&
        new RegExp(`^master_port:${primary.port}$`, 'm').test(v.server.cli('info', 'replication')),
    )
    if (!replica) throw new Error(`no replica of port ${primary.port}`)
    return replica.server
  }

  /** The primary serving `key`'s slot now. */
  primaryOf(key: string): RedisServer {
    const slot = Number(this.servers.find((s) => s.answers())!.cli('cluster', 'keyslot', key))
    const owner = this.primaries().find((p) => this.ownsSlot(p, slot))
    if (!owner) throw new Error(`no primary serves slot ${slot}`)
    return owner
  }

  /** The slot ranges `primary` serves, from its own CLUSTER NODES line. */
  private ranges(primary: RedisServer): [number, number][] {
    const me = primary.cli('cluster', 'myid')
    const line = primary
      .cli('cluster', 'nodes')
      .split('\n')
      .find((l) => l.startsWith(me))!
    return line
      .split(' ')
      .slice(8)
      .filter((range) => !range.startsWith('[')) // a slot being migrated, listed besides its range
      .map((range) => {
        const [from, to = from] = range.split('-').map(Number)
        return [from, to]
      })
  }

  private ownsSlot(primary: RedisServer, slot: number): boolean {
    return this.ranges(primary).some(([from, to]) => slot >= from && slot <= to)
  }

  slotCount(primary: RedisServer): number {
    return this.ranges(primary).reduce((n, [from, to]) => n + to - from + 1, 0)
  }

  /** Every live node says the cluster is ok: every slot has a primary that answers. */
  async untilHealthy(): Promise<void> {
    await waitUntil(() => this.views().every((v) => v.state === 'ok'), 30_000, 100, 'cluster ok on every node')
  }

  /** Moves `slots` slots of `from` to `to` (a resharding, key by key, with MIGRATE and ASK in between). */
  async reshard(from: RedisServer, to: RedisServer, slots: number): Promise<void> {
    // Not execFileSync: the keyward under test shares this process's event loop.
    await execFileAsync('redis-cli', [
      '--cluster',
      'reshard',
      `127.0.0.1:${from.port}`,
      '--cluster-from',
      from.cli('cluster', 'myid'),
      '--cluster-to',
      to.cli('cluster', 'myid'),
      '--cluster-slots',
      String(slots),
      '--cluster-yes',
      '--cluster-pipeline',
      '10',
    ])
  }

  async stop(): Promise<void> {
    await Promise.all(this.servers.map((s) => s.stop()))
  }
}

/**
 * One primary, one replica and three Sentinels (quorum 2) on loopback ports, with passwords on the
 * data nodes and on the Sentinels. The primary is judged down after 1 s.
 */
export class RedisSentinelTopology {
  static readonly master = 'kwmaster'
  static readonly password = 'data-node-password'
  static readonly sentinelPassword = 'sentinel-password'

  private constructor(
    readonly data: RedisServer[],
    readonly sentinels: RedisServer[],
  ) {}

  /** With `tls`, every node and Sentinel speaks TLS only, and they to each other. */
  static async start(tls?: TlsFiles): Promise<RedisSentinelTopology> {
    const pw = RedisSentinelTopology.password
    const auth = ['--requirepass', pw, '--masterauth', pw]
    const base = ['--save', '', '--appendonly', 'no', ...auth]
    const primary = await RedisServer.create(base, { password: pw, tls })
    const replica = await RedisServer.create([...base, '--replicaof', '127.0.0.1', String(primary.port)], {
      password: pw,
      tls,
    })
    const sentinels = await Promise.all(
      Array.from({ length: 3 }, () =>
        RedisServer.create(['--requirepass', RedisSentinelTopology.sentinelPassword], {
          sentinel: true,
          tls,
          password: RedisSentinelTopology.sentinelPassword,
          config: () =>
            [
              `sentinel monitor ${RedisSentinelTopology.master} 127.0.0.1 ${primary.port} 2`,
              `sentinel auth-pass ${RedisSentinelTopology.master} ${pw}`,
              `sentinel down-after-milliseconds ${RedisSentinelTopology.master} 1000`,
              `sentinel failover-timeout ${RedisSentinelTopology.master} 5000`,
              // Sentinels find each other through the data nodes; they must authenticate to each other.
              `sentinel sentinel-pass ${RedisSentinelTopology.sentinelPassword}`,
              '',
            ].join('\n'),
        }),
      ),
    )
    const topology = new RedisSentinelTopology([primary, replica], sentinels)
    try {
      await primary.start()
      await replica.start()
      await Promise.all(sentinels.map((s) => s.start()))
      await waitUntil(
        () => {
          const synced = /master_link_status:up/.test(replica.cli('info', 'replication'))
          return (
            synced &&
            sentinels.every((s) =>
              /num-other-sentinels\s+2/.test(
                s.cli('sentinel', 'master', RedisSentinelTopology.master).replace(/\n/g, ' '),
              ),
            )
          )
        },
        30_000,
        100,
        'replica in sync and every Sentinel sees the others',
      )
    } catch (err) {
      await topology.stop()
      throw err
    }
    return topology
  }

  get env(): Record<string, string> {
    return {
      REDIS_SENTINELS: this.sentinels.map((s) => `127.0.0.1:${s.port}`).join(','),
      REDIS_SENTINEL_MASTER: RedisSentinelTopology.master,
      REDIS_SENTINEL_PASSWORD: RedisSentinelTopology.sentinelPassword,
      REDIS_PASSWORD: RedisSentinelTopology.password,
    }
  }

  /** The data node the Sentinels name as primary now. */
  primary(): RedisServer {
    const [, port] = this.sentinels
      .find((s) => s.answers())!
      .cli('sentinel', 'get-master-addr-by-name', RedisSentinelTopology.master)
      .split('\n')
    return this.data.find((d) => d.port === Number(port))!
  }

  client(): Redis {
    return new Redis({
      sentinels: this.sentinels.map((s) => s.address),
      name: RedisSentinelTopology.master,
      sentinelPassword: RedisSentinelTopology.sentinelPassword,
      password: RedisSentinelTopology.password,
    })
  }

  /**
   * Until every Sentinel names the same primary other than `old`, and it takes writes: the switch is
   * over only then, as a client may ask any Sentinel (one that has not heard of the fail-over yet
   * still names the old primary; they learn it from each other within seconds).
   */
  async untilPrimaryIsNot(old: RedisServer): Promise<RedisServer> {
    const named = () =>
      new Set(
        this.sentinels.map(
          (s) => s.cli('sentinel', 'get-master-addr-by-name', RedisSentinelTopology.master).split('\n')[1],
        ),
      )
    await waitUntil(
      () => {
        const ports = named()
        return (
          ports.size === 1 &&
          !ports.has(String(old.port)) &&
          /role:master/.test(this.primary().cli('info', 'replication'))
        )
      },
      30_000,
      100,
      'a new primary, named by every Sentinel',
    )
    return this.primary()
  }

  async stop(): Promise<void> {
    await Promise.all([...this.sentinels, ...this.data].map((s) => s.stop()))
  }
}
