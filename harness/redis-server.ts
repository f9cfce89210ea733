import { execFileSync, spawnSync } from 'node:child_process'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { registerProcessGroup, unregisterProcessGroup } from './processes'
import { tempDir } from './temp-dir'

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number }
      server.close(() => resolve(port))
    })
  })
}

/** Files of a test CA and a certificate it signed for 127.0.0.1 (`testCertificates`). */
export interface TlsFiles {
  ca: string
  cert: string
  key: string
}

/** A CA and a server certificate for 127.0.0.1, made with openssl in `dir`. */
export function testCertificates(dir: string): TlsFiles {
  const files = { ca: join(dir, 'ca.pem'), cert: join(dir, 'redis.crt'), key: join(dir, 'redis.key') }
  const caKey = join(dir, 'ca.key')
  const csr = join(dir, 'redis.csr')
  const ext = join(dir, 'san.ext')
  writeFileSync(ext, 'subjectAltName=IP:127.0.0.1\n')
  const openssl = (...args: string[]) => execFileSync('openssl', args, { stdio: 'ignore' })
  openssl(
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    caKey,
    '-out',
    files.ca,
    '-days',
    '1',
    '-subj',
    '/CN=keyward test CA',
  )
  openssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', files.key, '-out', csr, '-subj', '/CN=127.0.0.1')
  openssl(
    'x509',
    '-req',
    '-in',
    csr,
    '-CA',
    files.ca,
    '-CAkey',
    caKey,
    '-CAcreateserial',
    '-out',
    files.cert,
    '-days',
    '1',
    '-extfile',
    ext,
  )
  return files
}

export interface RedisServerOptions {
  /** A configuration file written into the server's folder and read first (e.g. a Sentinel's). */
  config?: (server: { port: number; dir: string }) => string
  /** `--sentinel`: the server runs as a Redis Sentinel. */
  sentinel?: boolean
  /** What `redis-cli` authenticates with, for a server started with requirepass. */
  password?: string
  /** TLS only: the port is a TLS port, and the server's replication and Sentinel links use TLS too. */
  tls?: TlsFiles
}

/**
 * A private redis-server for tests. It runs daemonized, so any test process can stop and start it
 * again by port (to test outages and restarts) whoever started it first; daemonized, it leads its own
 * process group, registered for the global teardown.
 */
export class RedisServer {
  constructor(
    readonly port: number,
    readonly dir: string,
    private readonly extraArgs: string[] = ['--save', '', '--appendonly', 'no'],
    private readonly options: RedisServerOptions = {},
  ) {}

  static async create(extraArgs?: string[], options?: RedisServerOptions): Promise<RedisServer> {
    return new RedisServer(await freePort(), tempDir('redis'), extraArgs, options)
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`
  }

  get address(): { host: string; port: number } {
    return { host: '127.0.0.1', port: this.port }
  }

  async start(): Promise<void> {
    const config = join(this.dir, 'redis.conf')
    if (this.options.config && !existsSync(config)) writeFileSync(config, this.options.config(this))
    execFileSync('redis-server', [
      ...(this.options.config ? [config] : []),
      ...(this.options.sentinel ? ['--sentinel'] : []),
      ...this.portArgs(),
      '--bind',
      '127.0.0.1',
      '--daemonize',
      'yes',
      '--dir',
      this.dir,
      '--pidfile',
      join(this.dir, 'redis.pid'),
      '--logfile',
      join(this.dir, 'redis.log'),
      ...this.extraArgs,
    ])
    await this.waitFor(true)
    this.adopt()
  }

  private portArgs(): string[] {
    const tls = this.options.tls
    if (!tls) return ['--port', String(this.port)]
    return [
      ['--port', '0'],
      ['--tls-port', String(this.port)],
      ['--tls-cert-file', tls.cert],
      ['--tls-key-file', tls.key],
      ['--tls-ca-cert-file', tls.ca],
      ['--tls-auth-clients', 'no'],
      ['--tls-replication', 'yes'],
    ].flat()
  }

  /** Registers a running server (started here, or by a script under test) for the global teardown. */
  adopt(): void {
    registerProcessGroup(this.pid(), `redis-server on port ${this.port}`)
  }

  /** `redis-cli` against this server; its output, trimmed. */
  cli(...args: string[]): string {
    const auth = this.options.password ? ['-a', this.options.password, '--no-auth-warning'] : []
    const tls = this.options.tls ? ['--tls', '--cacert', this.options.tls.ca] : []
    const run = spawnSync('redis-cli', ['-p', String(this.port), ...tls, ...auth, ...args], { encoding: 'utf8' })
    return (run.stdout ?? '').trim()
  }

  /** Stopped (SIGSTOP) until `resume`: it takes nothing from its primary, and answers nobody. */
  pause(): void {
    process.kill(this.pid(), 'SIGSTOP')
  }

  resume(): void {
    process.kill(this.pid(), 'SIGCONT')
  }

  /** Killed at once (SIGKILL), as by a crash or a lost machine: nothing is saved or handed over. */
  crash(): void {
    const pid = this.pid()
    process.kill(pid, 'SIGKILL')
    unregisterProcessGroup(pid)
  }

  async stop(): Promise<void> {
    if (!this.answers()) return
    const pid = this.pid() // redis-server removes its pidfile as it stops
    this.cli('shutdown', 'nosave')
    await this.waitFor(false)
    unregisterProcessGroup(pid)
  }

  private pid(): number {
    return Number(readFileSync(join(this.dir, 'redis.pid'), 'utf8').trim())
  }

  answers(): boolean {
    return this.cli('ping') === 'PONG'
  }

  private async waitFor(up: boolean): Promise<void> {
    for (let i = 0; i < 100; i++) {
      if (this.answers() === up) return
      await new Promise((r) => setTimeout(r, 50))
    }
    throw new Error(`redis-server on port ${this.port} did not ${up ? 'start' : 'stop'}`)
  }
}
