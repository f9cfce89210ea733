/**
 * A host Express application with keyward mounted, as a process of its own (test/e2e/library-processes):
 * the same routes as harness/host-app.ts, configured from the environment. Says "listening" when ready.
 */
import express from 'express'
import { keyward } from '../src/index'
import { hostRoutes } from './host-app'

const env = (name: string): string => {
  const value = process.env[name]
  if (!value) throw new Error(`${name} is not set`)
  return value
}

async function main(): Promise<void> {
  const app = express()
  const kw = keyward({
    publicUrl: env('PUBLIC_URL'),
    keycloak: {
      url: env('KEYCLOAK_URL'),
      realm: env('KEYCLOAK_REALM'),
      clientId: env('CLIENT_ID'),
      clientSecret: env('CLIENT_SECRET'),
    },
    secrets: { session: env('SESSION_SECRET'), tokenEncryptionKeys: env('TOKEN_ENCRYPTION_KEYS') },
    redis: { url: env('REDIS_URL'), prefix: env('REDIS_PREFIX') },
    upstreams: { echo: env('UPSTREAM_URL') },
    devAllowHttp: true,
    loginRateLimit: 0,
    logLevel: 'info',
  })
  app.use(kw)
  hostRoutes(app, kw, env('UPSTREAM_URL'))
  await kw.ready()
  const server = app.listen(Number(env('PORT')), '127.0.0.1', () => console.log('listening'))
  process.on('SIGTERM', () => server.close(() => void kw.close().then(() => process.exit(0))))
}

void main()
