// A TypeScript application using keyward from its package, compiled under `strict` (test/e2e/package.test.ts).
import express from 'express'
import { keyward, KeywardError, type Keyward, type KeywardOptions, type SessionInfo } from 'keyward'

const options: KeywardOptions = {
  publicUrl: 'https://app.example.com',
  keycloak: { url: 'https://sso.example.com', realm: 'acme', clientId: 'web', clientSecret: 'secret' },
  secrets: { session: ['a'.repeat(32)], tokenEncryptionKeys: 'k1:' + 'A'.repeat(43) + '=' },
  redis: { url: 'redis://127.0.0.1:6379', prefix: 'app:' },
  upstreams: { orders: { url: 'https://orders.internal', timeoutSeconds: 5 } },
}

export function build(kw: Keyward = keyward(options)): express.Express {
  const app = express()
  app.use(kw)
  app.get('/me', kw.requireSession(), (req, res) => {
    const email: string | undefined = req.keyward.user?.email
    const session: SessionInfo | undefined = req.keyward.session
    res.json({ email, expires: session?.expiresAt.toISOString() })
  })
  app.get('/orders', kw.requireRole('realm:buyer', 'web:admin'), async (req, res) => {
    const token: string = await req.keyward.accessToken({ minValiditySeconds: 30 })
    res.json({ length: token.length })
  })
  app.post('/orders', kw.requireClaims({ email_verified: true }), kw.csrf(), (_req, res) => {
    res.status(201).end()
  })
  app.use('/api/orders', kw.proxy('orders'))
  app.use(kw.errorHandler())
  app.use((err: unknown, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
    res.status(err instanceof KeywardError ? err.status : 500).end()
  })
  return app
}
