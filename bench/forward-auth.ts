/**
 * What forward-auth costs: Debian's nginx in front of the echo upstream, once through the shipped
 * configuration (examples/forward-auth/nginx.conf.template: an `auth_request` to keyward's check per
 * request, the identity headers and the access token passed on) and once through a plain
 * `proxy_pass` in the same nginx, in interleaved rounds with wrk: req/s, p50/p99, and CPU time per
 * request of nginx and of keyward. keyward runs from dist/ with one worker. Run with `npm run bench`.
 *   BENCH_ROUNDS (5), BENCH_SECONDS (10), BENCH_CONNECTIONS (32)
 */
import { startKeywardProcess } from '../harness/keyward-process'
import { testEnv } from '../harness/keyward'
import { freePort } from '../harness/redis-server'
import { startNginx } from '../harness/reverse-proxies'
import { baseStack, cpuMs, login, machine, main, median, processTree, rotations, wrk, type WrkResult } from './lib'

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5)
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10)
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 32)

interface Target {
  name: string
  url: string
  headers?: Record<string, string>
}

main(async (atExit) => {
  const { upstream } = await baseStack(atExit)
  const [nginxPort, plainPort, checkPort] = [await freePort(), await freePort(), await freePort()]
  const keywardUrl = `http://127.0.0.1:${await freePort()}`
  const publicUrl = `http://127.0.0.1:${nginxPort}`
  const kw = await startKeywardProcess(
    keywardUrl,
    testEnv({
      PUBLIC_URL: publicUrl,
      LOG_LEVEL: 'warn',
      WORKERS: '1',
      FORWARD_AUTH_PORT: String(checkPort),
      FORWARD_AUTH_ACCESS_TOKEN: 'true',
    }),
    { built: true },
  )
  atExit(() => kw.kill('SIGTERM'))
  const upstreamHost = new URL(upstream.url).host
  const plain = `server { listen 127.0.0.1:${plainPort}; location / { proxy_pass http://${upstreamHost}; } }`
  const nginx = await startNginx(
    nginxPort,
    { keyward: new URL(keywardUrl).host, check: `127.0.0.1:${checkPort}`, upstream: upstreamHost },
    plain,
  )
  atExit(() => nginx.close())
  const nginxPids = () => processTree(nginx.pid)

  const cookie = await login(publicUrl)
  const targets: Target[] = [
    { name: 'nginx → upstream', url: `http://127.0.0.1:${plainPort}/items` },
    { name: 'nginx + keyward check → upstream', url: `${publicUrl}/items`, headers: { cookie } },
  ]
  const runs = new Map<string, { result: WrkResult; nginxUs: number; keywardUs: number }[]>()
  for (const target of rotations(targets, ROUNDS)) {
    const [nginxBefore, kwBefore] = [cpuMs(nginxPids()), cpuMs(processTree(kw.child.pid!))]
    const result = wrk(target.url, { threads: 2, connections: CONNECTIONS, seconds: SECONDS, headers: target.headers })
    if (result.errors || result.non2xx)
      throw new Error(`${target.name}: ${result.errors} errors, ${result.non2xx} non-2xx`)
    const per = (ms: number) => (ms * 1000) / result.requests
    runs.set(target.name, [
      ...(runs.get(target.name) ?? []),
      {
        result,
        nginxUs: per(cpuMs(nginxPids()) - nginxBefore),
        keywardUs: per(cpuMs(processTree(kw.child.pid!)) - kwBefore),
      },
    ])
  }
  console.log(`forward-auth: ${machine()}; ${ROUNDS} rounds of ${SECONDS} s, ${CONNECTIONS} connections, wrk -t2`)
  console.log('| target | req/s | p50 ms | p99 ms | nginx CPU µs/req | keyward CPU µs/req |')
  console.log('|---|---|---|---|---|---|')
  for (const [name, rs] of runs) {
    const m = (f: (r: (typeof rs)[number]) => number, digits = 0) => median(rs.map(f)).toFixed(digits)
    const ms = (f: (r: WrkResult) => number) => m((r) => f(r.result) / 1000, 2) // wrk's latencies are in µs
    console.log(
      `| ${name} | ${m((r) => r.result.rps)} | ${ms((r) => r.p50)} | ${ms((r) => r.p99)} | ${m((r) => r.nginxUs)} | ${m((r) => r.keywardUs)} |`,
    )
  }
})
