/**
 * What WebSockets through keyward cost: 1,000 sockets open at once on one keyward process (one worker),
 * each of its own session (copies of a real login, as bench/sessions.ts makes them), to a WebSocket
 * echo upstream in its own process. Reported: keyward's resident memory before, with the sockets open
 * (per socket), and after they closed; its CPU while they sit idle (the session watch asks Redis
 * twice a second whether their sessions still exist); and round trips of 1 KiB messages through it
 * (p50/p99, keyward's CPU per message). Run with `npm run bench`.
 *   BENCH_SOCKETS (1000), BENCH_MESSAGES (10 per socket), BENCH_IDLE_SECONDS (10)
 */
import { testEnv, testSealer } from '../harness/keyward'
import { scanKeys } from '../harness/redis-topology'
import { redisKeys } from '../src/store/keys'
import { createTokenSessionStore } from '../src/store/token-sessions'
import WebSocket from 'ws'
import {
  copySessions,
  cpuMs,
  keycloak,
  keyward,
  login,
  machine,
  main,
  nodeServer,
  privateRedis,
  processTree,
  rssMiB,
} from './lib'
import { percentile } from './soak-report'

const SOCKETS = Number(process.env.BENCH_SOCKETS ?? 1000)
const MESSAGES = Number(process.env.BENCH_MESSAGES ?? 10)
const IDLE_SECONDS = Number(process.env.BENCH_IDLE_SECONDS ?? 10)

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

function open(url: string, cookie: string, origin: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers: { cookie, origin }, perMessageDeflate: false })
    ws.once('open', () => resolve(ws))
    ws.once('unexpected-response', (_req, res) => reject(new Error(`handshake refused: ${res.statusCode}`)))
    ws.once('error', reject)
  })
}

/** One message's round trip through keyward and the echo upstream, in ms. */
function roundTrip(ws: WebSocket, payload: Buffer): Promise<number> {
  return new Promise((resolve) => {
    const started = performance.now()
    ws.once('message', () => resolve(performance.now() - started))
    ws.send(payload)
  })
}

main(async (atExit) => {
  keycloak()
  const redis = await privateRedis()
  atExit(async () => (redis.client.disconnect(), redis.server.stop()))
  const upstream = await nodeServer('ws-echo-upstream.mjs')
  atExit(() => upstream.proc.kill('SIGTERM'))
  const env = testEnv({
    REDIS_URL: redis.url,
    UPSTREAMS: JSON.stringify({ live: { url: upstream.url, websocket: true } }),
    LOG_LEVEL: 'warn',
  })
  const kw = await keyward(env, 1)
  atExit(() => kw.proc.kill('SIGTERM'))
  const pids = () => processTree(kw.proc.child.pid!)

  await login(kw.url)
  const keys = redisKeys(env.REDIS_PREFIX)
  const store = createTokenSessionStore(redis.client, keys, testSealer())
  const [key] = await scanKeys(redis.client, `${env.REDIS_PREFIX}tok:*`)
  const real = (await store.get(key.slice(key.indexOf('{') + 1, -1)))!
  const cookies = await copySessions(real, SOCKETS, [store], env.SESSION_SECRET.split(',')[0])

  const wsUrl = `${kw.url.replace(/^http/, 'ws')}/api/live/feed`
  // Warm up: a few sockets opened, used and closed, so the first measure includes loaded code.
  for (const cookie of cookies.slice(0, 20)) {
    const ws = await open(wsUrl, cookie, kw.url)
    await roundTrip(ws, Buffer.alloc(16))
    ws.close()
  }
  await sleep(2000)
  const before = rssMiB(pids())

  const sockets: WebSocket[] = []
  for (let i = 0; i < SOCKETS; i += 50) {
    sockets.push(...(await Promise.all(cookies.slice(i, i + 50).map((c) => open(wsUrl, c, kw.url)))))
  }
  await sleep(2000)
  const opened = rssMiB(pids())

  const idleBefore = cpuMs(pids())
  await sleep(IDLE_SECONDS * 1000)
  const idleCpuPerSecond = (cpuMs(pids()) - idleBefore) / IDLE_SECONDS
  const stillOpen = sockets.filter((s) => s.readyState === WebSocket.OPEN).length

  const payload = Buffer.alloc(1024, 7)
  const times: number[] = []
  const busyBefore = cpuMs(pids())
  for (let round = 0; round < MESSAGES; round++) {
    times.push(...(await Promise.all(sockets.map((ws) => roundTrip(ws, payload)))))
  }
  const cpuPerMessageUs = ((cpuMs(pids()) - busyBefore) * 1000) / times.length
  const peak = rssMiB(pids())

  await Promise.all(sockets.map((ws) => new Promise((resolve) => (ws.once('close', resolve), ws.close()))))
  await sleep(5000)
  const after = rssMiB(pids())
  times.sort((a, b) => a - b)

  console.log(`websockets: ${machine()}; ${SOCKETS} sockets, one session each, keyward with one worker`)
  console.log('| measure | value |')
  console.log('|---|---|')
  console.log(`| keyward RSS before | ${before.toFixed(1)} MiB |`)
  console.log(
    `| with ${SOCKETS} sockets open | ${opened.toFixed(1)} MiB (${(((opened - before) * 1024) / SOCKETS).toFixed(1)} KiB per socket) |`,
  )
  console.log(`| after ${times.length} round trips of 1 KiB | ${peak.toFixed(1)} MiB |`)
  console.log(`| after all closed (5 s) | ${after.toFixed(1)} MiB |`)
  console.log(
    `| CPU while idle (session watch) | ${idleCpuPerSecond.toFixed(1)} ms per second; ${stillOpen} of ${SOCKETS} still open after ${IDLE_SECONDS} s |`,
  )
  console.log(
    `| round trip, ${SOCKETS} at once | p50 ${percentile(times, 50).toFixed(1)} ms, p99 ${percentile(times, 99).toFixed(1)} ms |`,
  )
  console.log(`| keyward CPU per message (both ways) | ${cpuPerMessageUs.toFixed(0)} µs |`)
})
