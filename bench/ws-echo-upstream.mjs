// The WebSocket API behind keyward in bench/websockets.ts: echoes every message, checks nothing. Its
// own process, so that its CPU and memory are not counted for keyward.  PORT is required.
import { createServer } from 'node:http'
import { WebSocketServer } from 'ws'

const server = createServer((_req, res) => res.writeHead(426).end())
const wss = new WebSocketServer({ server, perMessageDeflate: false, clientTracking: false })
wss.on('connection', (ws) => {
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }))
  ws.on('error', () => undefined)
})
server.listen(Number(process.env.PORT), '127.0.0.1', () => console.log('listening'))
process.on('SIGTERM', () => process.exit(0))
