/** bench/middleware.ts's limit: the same app and handler with no auth at all (the upstream gets no token). */
import express from 'express'
import { callUpstream, listen, useToken } from './common'

const app = express()
app.get('/fresh', async (_req, res) => {
  await callUpstream(res)
})
app.get('/token', (_req, res) => {
  useToken(res)
})
listen(app)
