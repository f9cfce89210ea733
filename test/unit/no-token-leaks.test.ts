import { createServer } from 'node:http'
import { takeLeaks, watchKeyward } from '../../harness/leaks'

const jwt =
  ['{"alg":"RS256","typ":"JWT"}', '{"sub":"someone"}'].map((p) => Buffer.from(p).toString('base64url')).join('.') +
  '.c2ln'

describe('the token-leak guard every suite runs under (test/support/no-token-leaks.ts)', () => {
  test('catches a JWT in a response header, in a body the test never read, and in a log line, and a private key in a log line; clean traffic passes', async () => {
    const server = createServer((req, res) => {
      if (req.url === '/header') res.setHeader('x-debug', `Bearer ${jwt}`)
      res.end(req.url === '/body' ? JSON.stringify({ access_token: jwt }) : 'ok')
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const { port } = server.address() as { port: number }
    const base = `http://127.0.0.1:${port}`
    let log = ''
    try {
      // Not yet known as a keyward: its responses are none of the guard's business (Keycloak's are full of tokens).
      await (await fetch(`${base}/body`)).text()
      expect(await takeLeaks()).toEqual([])

      watchKeyward(port, () => log)
      await (await fetch(`${base}/header`)).text()
      await fetch(`${base}/body`)
      log += `{"msg":"oops","token":"${jwt}"}\n`
      expect(await takeLeaks()).toEqual([
        expect.stringContaining(`GET ${base}/header (headers)`),
        expect.stringContaining(`GET ${base}/body (body)`),
        expect.stringContaining(`log of keyward on port ${port}`),
      ])

      log += '{"msg":"key","jwk":{"kty":"EC","d":"' + 'A'.repeat(43) + '"}}\n'
      expect(await takeLeaks()).toEqual([`log of keyward on port ${port}: a private key`])

      await (await fetch(`${base}/clean`)).text()
      log += '{"msg":"fine"}\n'
      expect(await takeLeaks()).toEqual([]) // and the old log line is not counted twice
    } finally {
      server.close()
    }
  })
})
