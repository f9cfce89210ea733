import { copyFileSync, readFileSync, writeFileSync } from 'node:fs'
import { connect } from 'node:net'
import { join } from 'node:path'
import { spawnTracked, type TrackedProcess } from './processes'
import { tempDir } from './temp-dir'
import { waitUntil } from './wait'

/** The shipped forward-auth configurations (docs/forward-auth.md): the tests run these files. */
const EXAMPLES = join(__dirname, '..', 'examples', 'forward-auth')

/** Where a proxy in front of an app sends what: keyward's two listeners, and the app. */
export interface ProxyTargets {
  /** keyward's app listener, host:port. */
  keyward: string
  /** keyward's forward-auth listener, host:port. */
  check: string
  /** The app behind the proxy, host:port. */
  upstream: string
}

/** A reverse proxy the tests started; `url` is the app's origin (keyward's PUBLIC_URL). */
export interface RunningProxy {
  url: string
  /** The proxy's main process (nginx's master). */
  pid: number
  output(): string
  close(): Promise<void>
}

const listening = (port: number) =>
  new Promise<boolean>((resolve) => {
    const socket = connect(port, '127.0.0.1')
    socket.once('connect', () => resolve(!!socket.end()))
    socket.once('error', () => resolve(false))
  })

async function started(proc: TrackedProcess, port: number, name: string): Promise<RunningProxy> {
  let exited = false
  void proc.exited.then(() => (exited = true))
  try {
    await waitUntil(async () => exited || (await listening(port)), 15_000)
  } catch (err) {
    await proc.kill()
    throw new Error(`${name} did not start: ${proc.output()}`, { cause: err })
  }
  if (exited) throw new Error(`${name} exited: ${proc.output()}`)
  return {
    url: `http://127.0.0.1:${port}`,
    pid: proc.child.pid!,
    output: proc.output,
    close: async () => void (await proc.kill('SIGTERM')),
  }
}

/**
 * Debian's nginx running `nginx.conf.template` as the official image would (its `${…}` filled in),
 * inside a minimal main configuration of a folder of its own, on 127.0.0.1:`port`; `extra`, more of
 * the `http` block (a benchmark's plain server beside it).
 */
export async function startNginx(port: number, to: ProxyTargets, extra = ''): Promise<RunningProxy> {
  const dir = tempDir('nginx')
  const values: Record<string, string> = {
    LISTEN: `127.0.0.1:${port}`,
    KEYWARD: to.keyward,
    KEYWARD_CHECK: to.check,
    UPSTREAM: to.upstream,
  }
  const template = readFileSync(join(EXAMPLES, 'nginx.conf.template'), 'utf8')
  writeFileSync(
    join(dir, 'site.conf'),
    template.replace(/\$\{(\w+)\}/g, (whole, name: string) => values[name] ?? whole),
  )
  copyFileSync(join(EXAMPLES, 'keyward-identity.conf'), join(dir, 'keyward-identity.conf'))
  const temp = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((t) => `${t}_temp_path ${dir}/${t};`).join(' ')
  writeFileSync(
    join(dir, 'nginx.conf'),
    [
      // As root, nginx's workers would run as nobody, who may not enter this folder.
      process.getuid?.() === 0 ? 'user root;' : '',
      `daemon off; worker_processes 1; pid ${dir}/nginx.pid; error_log stderr warn;`,
      'events { worker_connections 1024; }',
      `http { access_log off; ${temp} include site.conf; ${extra} }`,
    ].join('\n'),
  )
  const proc = spawnTracked('nginx', ['-p', dir, '-c', join(dir, 'nginx.conf'), '-e', 'stderr'], {
    env: {},
    cwd: dir,
    label: `nginx on ${port}`,
  })
  return started(proc, port, 'nginx')
}

/** Debian's Caddy running the shipped `Caddyfile`, its `{$…}` from the environment, on 127.0.0.1:`port`. */
export async function startCaddy(port: number, to: ProxyTargets): Promise<RunningProxy> {
  const dir = tempDir('caddy')
  const proc = spawnTracked('caddy', ['run', '--adapter', 'caddyfile', '--config', join(EXAMPLES, 'Caddyfile')], {
    env: {
      LISTEN: `http://127.0.0.1:${port}`,
      BIND: '127.0.0.1',
      KEYWARD: to.keyward,
      KEYWARD_CHECK: to.check,
      UPSTREAM: to.upstream,
      CADDY_ADMIN: 'off',
      // Caddy keeps its state (certificates, autosaved configuration) under these.
      HOME: dir,
      XDG_DATA_HOME: dir,
      XDG_CONFIG_HOME: dir,
    },
    cwd: dir,
    label: `caddy on ${port}`,
  })
  return started(proc, port, 'caddy')
}
