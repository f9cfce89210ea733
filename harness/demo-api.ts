import { join } from 'node:path'
import { spawnTracked } from './processes'
import { freePort } from './redis-server'
import { keycloakUrl } from './servers'
import { waitUntil } from './wait'

/**
 * The demo's upstream API (demo/api.mjs) as a process of its own, trusting `realm`'s tokens: the
 * resource server that checks DPoP proofs; `nonce`, it asks for its DPoP-Nonce in each proof.
 */
export async function startDemoApi(realm: string, options: { nonce?: boolean } = {}) {
  const port = await freePort()
  const proc = spawnTracked(process.execPath, [join(__dirname, '../demo/api.mjs')], {
    env: {
      DEMO_API_PORT: String(port),
      DEMO_ISSUER: `${keycloakUrl()}/realms/${realm}`,
      ...(options.nonce ? { DEMO_DPOP_NONCE: '1' } : {}),
    },
    cwd: join(__dirname, '..'),
    label: 'demo API',
  })
  await waitUntil(() => proc.output().includes('demo API on'), 10_000)
  return { url: `http://127.0.0.1:${port}`, close: () => proc.kill() }
}
