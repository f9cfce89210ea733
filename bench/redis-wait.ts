/**
 * What REDIS_WAIT_REPLICAS=1 costs a session write: a write of a session's size (3 KB) followed by
 * `WAIT 1` against a replica on loopback, as keyward sends it (one pipeline with EXISTS), against the
 * same pipeline without the WAIT; sequential, so each figure is one write's latency. Then the raw
 * command rate of one redis-server core on this machine (redis-benchmark, 50 clients), for
 * docs/capacity.md. Run with `npm run bench`.
 *   BENCH_WRITES (5000), BENCH_ROUNDS (5)
 */
import { execFileSync } from 'node:child_process'
import { Redis } from 'ioredis'
import { RedisServer } from '../harness/redis-server'
import { replicated } from '../harness/redis-topology'
import { waitUntil } from '../harness/wait'
import { machine, main, median, rotations } from './lib'

const WRITES = Number(process.env.BENCH_WRITES ?? 5000)
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5)

main(async (atExit) => {
  const primary = await RedisServer.create()
  await primary.start()
  atExit(() => primary.stop())
  const replica = await RedisServer.create([
    '--save',
    '',
    '--appendonly',
    'no',
    '--replicaof',
    '127.0.0.1',
    String(primary.port),
  ])
  await replica.start()
  atExit(() => replica.stop())
  await waitUntil(
    () => /master_link_status:up/.test(replica.cli('info', 'replication')) && replicated(primary, replica),
    30_000,
    100,
    'replica in step',
  )
  const client = new Redis(primary.url)
  atExit(async () => client.disconnect())
  const value = 'v'.repeat(3000)

  const perWrite = { 'without WAIT': [] as number[], 'with WAIT 1': [] as number[] }
  for (const kind of rotations(Object.keys(perWrite) as (keyof typeof perWrite)[], ROUNDS + 1)) {
    const started = process.hrtime.bigint()
    for (let i = 0; i < WRITES; i++) {
      const p = client.pipeline().set(`k${i}`, value).exists(`k${i}`)
      await (kind === 'with WAIT 1' ? p.wait(1, 100) : p).exec()
    }
    perWrite[kind].push(Number(process.hrtime.bigint() - started) / 1000 / WRITES)
  }
  const rates = execFileSync('redis-benchmark', [
    '-p',
    String(primary.port),
    '-q',
    '-n',
    '200000',
    '-c',
    '50',
    '-t',
    'get,set,hset',
  ])
    .toString()
    .split(/[\r\n]/)
    .flatMap((line) => (/^\s*(\w+): ([\d.]+) requests per second/.exec(line) ? [line.trim().replace(/,.*/, '')] : []))

  console.log(`\n${machine()}\n`)
  console.log(`One session write (3 KB), sequential, ${WRITES} per round, ${ROUNDS} rounds after a warm-up, medians:\n`)
  console.log('| | µs per write |\n|---|---|')
  for (const [kind, runs] of Object.entries(perWrite)) console.log(`| ${kind} | ${median(runs.slice(1)).toFixed(1)} |`)
  console.log(`\nredis-benchmark, one redis-server, 50 clients, no pipelining: ${rates.join('; ')}`)
})
