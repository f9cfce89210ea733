// The baseline of the proxy benchmark: a reverse proxy with no auth at all, node:http in front and
// undici behind with the same keep-alive pool as keyward's forwarder (src/upstream/forward.ts).
// PORT and TARGET are required.
import { createServer } from 'node:http'
import { pipeline } from 'node:stream/promises'
import { Agent, request } from 'undici'

const agent = new Agent({ keepAliveTimeout: 30_000, connections: 256 })
const server = createServer((req, res) => {
  request(`${process.env.TARGET}${req.url}`, { method: req.method, headers: req.headers, dispatcher: agent })
    .then((answer) => {
      res.writeHead(answer.statusCode, answer.headers)
      return pipeline(answer.body, res)
    })
    .catch(() => res.destroy()) // the load generator hangs up at the end of a run
})
server.keepAliveTimeout = 60_000
server.listen(Number(process.env.PORT), '127.0.0.1', () => console.log('listening'))
process.on('SIGTERM', () => process.exit(0))
