// The API behind the proxies in the benchmarks: answers a small JSON body at once, checks nothing.
// Its own process, so that its CPU is not counted for the proxy in front of it.  PORT is required.
import { createServer } from 'node:http'

const body = JSON.stringify({ ok: true, items: [1, 2, 3] })
const server = createServer((req, res) => {
  req.resume()
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }).end(body)
})
server.keepAliveTimeout = 60_000
server.listen(Number(process.env.PORT), '127.0.0.1', () => console.log('listening'))
process.on('SIGTERM', () => process.exit(0))
