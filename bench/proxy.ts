/**
 * The fresh-token hot path: throughput and latency of a proxied GET through keyward, against the
 * same upstream reached directly and through a plain Node reverse proxy with no auth, plus Redis
 * commands per proxied request. Run with `npm run bench` (it builds keyward first).
 */
import { createServer } from 'node:http'
import { pipeline } from 'node:stream/promises'
import { Agent, request } from 'undici'
import { freePort } from '../harness/redis-server'
import { commandStats, load, login, machine, main, withStack } from './lib'

const READS = new Set(['get', 'hgetall', 'mget', 'exists', 'smembers', 'evalsha', 'eval'])

async function plainProxy(target: string): Promise<string> {
  const agent = new Agent({ keepAliveTimeout: 30_000, connections: 256 })
  const server = createServer((req, res) => {
    request(`${target}${req.url}`, { method: req.method as 'GET', headers: req.headers, dispatcher: agent })
      .then((answer) => {
        res.writeHead(answer.statusCode, answer.headers as Record<string, string>)
        return pipeline(answer.body, res)
      })
      .catch(() => res.destroy()) // the load generator hangs up at the end of a run
  })
  const port = await freePort()
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve))
  return `http://127.0.0.1:${port}`
}

main(() =>
  withStack({}, async ({ url, upstream, redis }) => {
    const proxied = await plainProxy(upstream)
    const cookie = await login(url)
    const headers = { cookie, 'x-csrf': '1' }
    const duration = Number(process.env.BENCH_SECONDS ?? 10)

    await load({ url: `${url}/api/echo/items`, headers, duration: 2 }) // warm-up: JIT, pools
    const direct = await load({ url: `${upstream}/items`, duration })
    const plain = await load({ url: `${proxied}/items`, duration })
    const keyward = await load({ url: `${url}/api/echo/items`, headers, duration })
    // Redis commands per request, counted over a fixed number of requests that all complete (a timed
    // run ends with requests in flight whose commands Redis has counted and autocannon has not), once
    // the timed run's last requests have finished too.
    const counted = 10_000
    await new Promise((r) => setTimeout(r, 1000))
    await redis.config('RESETSTAT')
    await load({ url: `${url}/api/echo/items`, headers, amount: counted }) // amount overrides the duration
    const stats = await commandStats(redis)
    delete stats.config
    delete stats.info
    const reads = Object.entries(stats)
      .filter(([c]) => READS.has(c))
      .reduce((n, [, v]) => n + v, 0)
    const writes = Object.entries(stats)
      .filter(([c]) => !READS.has(c))
      .reduce((n, [, v]) => n + v, 0)

    const rows = [
      ['upstream directly', direct],
      ['plain Node proxy, no auth', plain],
      ['keyward (cookie → session → token → upstream)', keyward],
    ] as const
    console.log(`\n${machine()}; 50 connections, ${duration} s each, load generator on the same machine\n`)
    console.log('| target | req/s | p50 ms | p99 ms | errors | non-2xx |\n|---|---|---|---|---|---|')
    for (const [name, r] of rows)
      console.log(`| ${name} | ${r.rps} | ${r.p50} | ${r.p99} | ${r.errors} | ${r.non2xx} |`)
    console.log(
      `\nkeyward / direct throughput: ${(keyward.rps / direct.rps).toFixed(2)}; keyward / plain proxy: ${(keyward.rps / plain.rps).toFixed(2)}`,
    )
    console.log(
      `Redis commands per proxied request (${counted} requests): ${JSON.stringify(Object.fromEntries(Object.entries(stats).map(([c, n]) => [c, +(n / counted).toFixed(3)])))}`,
    )
    console.log(
      `reads per request: ${(reads / counted).toFixed(3)}, writes per request: ${(writes / counted).toFixed(3)}`,
    )
  }),
)
