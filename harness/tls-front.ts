import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { connect, type Socket } from 'node:net'
import { join } from 'node:path'
import { createServer, type Server } from 'node:tls'

/** The certificate and key Keycloak trusts for its outgoing https calls (scripts/keycloak.sh trusted). */
export function keycloakTrusted(): { cert: Buffer; key: Buffer } {
  const dir = execFileSync('bash', [join(__dirname, '../scripts/keycloak.sh'), 'trusted'])
    .toString()
    .trim()
  return { cert: readFileSync(join(dir, 'cert.pem')), key: readFileSync(join(dir, 'key.pem')) }
}

/**
 * TLS in front of a plain-http server on loopback, with the certificate Keycloak trusts: what Keycloak
 * reaches over https (a back-channel logout URL, as FAPI 2.0's client policies require) reaches it.
 */
export class TlsFront {
  private readonly sockets = new Set<Socket>()
  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  static async start(targetPort: number): Promise<TlsFront> {
    let front!: TlsFront
    const server = createServer(keycloakTrusted(), (client) => {
      const upstream = connect(targetPort, '127.0.0.1')
      for (const s of [client, upstream]) {
        front.sockets.add(s)
        s.on('close', () => front.sockets.delete(s))
      }
      client.pipe(upstream).pipe(client)
      const close = () => {
        client.destroy()
        upstream.destroy()
      }
      client.on('error', close).on('close', close)
      upstream.on('error', close).on('close', close)
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    front = new TlsFront(server, (server.address() as { port: number }).port)
    return front
  }

  get url(): string {
    return `https://127.0.0.1:${this.port}`
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy()
    await new Promise<void>((resolve) => this.server.close(() => resolve()))
  }
}
