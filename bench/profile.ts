/**
 * Where keyward's CPU goes on the hot path: keyward (1 worker, from dist/) runs under `--cpu-prof`
 * while wrk sends fresh-token proxied GETs, then the profile is summed up by self time: by package
 * (keyward's own code, each dependency, Node's internals, GC) and by function.
 *   PROFILE_SECONDS (10), PROFILE_CONNECTIONS (32; 1 profiles a lone client), PROFILE_TOP (25)
 */
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { tempDir } from '../harness/temp-dir'
import { testEnv } from '../harness/keyward'
import { baseStack, cpuMs, keyward, login, machine, main, wrk } from './lib'

const SECONDS = Number(process.env.PROFILE_SECONDS ?? 10)
const CONNECTIONS = Number(process.env.PROFILE_CONNECTIONS ?? 32)
const TOP = Number(process.env.PROFILE_TOP ?? 25)

interface ProfileNode {
  id: number
  callFrame: { functionName: string; url: string; lineNumber: number }
  children?: number[]
}
interface Profile {
  nodes: ProfileNode[]
  samples: number[]
  timeDeltas: number[]
}

/** Which part of the program a frame belongs to. */
function owner(frame: ProfileNode['callFrame']): string {
  const { url, functionName } = frame
  if (!url) return functionName.startsWith('(') ? functionName : '(native)'
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url)
  if (pkg) return pkg[1]
  if (url.startsWith('node:')) return 'node internals'
  if (url.includes('/dist/')) return 'keyward'
  return url
}

/** Self time per part and per function, in percent of all samples. */
export function summarize(profile: Profile): { byOwner: [string, number][]; byFunction: [string, number][] } {
  const nodes = new Map(profile.nodes.map((n) => [n.id, n]))
  const self = new Map<number, number>()
  profile.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)))
  const total = [...self.values()].reduce((a, b) => a + b, 0)
  const add = (map: Map<string, number>, key: string, t: number) => map.set(key, (map.get(key) ?? 0) + t)
  const byOwner = new Map<string, number>()
  const byFunction = new Map<string, number>()
  for (const [id, t] of self) {
    const frame = nodes.get(id)!.callFrame
    add(byOwner, owner(frame), t)
    const file = frame.url.replace(/^.*node_modules\//, '').replace(/^.*\/dist\//, 'dist/')
    add(byFunction, `${frame.functionName || '(anonymous)'} ${file}:${frame.lineNumber + 1}`, t)
  }
  const top = (map: Map<string, number>): [string, number][] =>
    [...map].sort((a, b) => b[1] - a[1]).map(([k, v]) => [k, (100 * v) / total])
  return { byOwner: top(byOwner), byFunction: top(byFunction).slice(0, TOP) }
}

main(async (atExit) => {
  const { upstream } = await baseStack(atExit)
  const dir = tempDir('profile')
  const env = testEnv({
    UPSTREAMS: JSON.stringify({ up: upstream.url }),
    LOG_LEVEL: 'warn',
  })
  const kw = await keyward(env, 1, ['--cpu-prof', `--cpu-prof-dir=${dir}`])
  atExit(() => kw.proc.kill('SIGTERM'))
  const headers = { cookie: await login(kw.url), 'x-csrf': '1' }
  wrk(`${kw.url}/api/up/x`, { threads: 1, connections: CONNECTIONS, seconds: 3, headers }) // warm-up
  const pid = kw.proc.child.pid!
  const before = cpuMs([pid])
  const run = wrk(`${kw.url}/api/up/x`, {
    threads: Math.min(2, CONNECTIONS),
    connections: CONNECTIONS,
    seconds: SECONDS,
    headers,
  })
  const cpuUs = ((cpuMs([pid]) - before) * 1000) / run.requests
  await kw.proc.kill('SIGTERM') // the profile is written as the process exits
  const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'))!
  const { byOwner, byFunction } = summarize(JSON.parse(readFileSync(join(dir, file), 'utf8')) as Profile)
  console.log(`\n${machine()}; keyward 1 worker, wrk ${CONNECTIONS} connection(s), ${SECONDS} s`)
  console.log(`${Math.round(run.rps)} req/s, ${Math.round(cpuUs)} µs of CPU per request (profiling adds some)\n`)
  console.log('| self time by part | % |\n|---|---|')
  for (const [k, v] of byOwner.filter(([, v]) => v >= 0.5)) console.log(`| ${k} | ${v.toFixed(1)} |`)
  console.log(`\n| top ${TOP} functions by self time | % |\n|---|---|`)
  for (const [k, v] of byFunction) console.log(`| \`${k}\` | ${v.toFixed(1)} |`)
  console.log(`\nprofile: ${join(dir, file)}`)
})
