import express from 'express'
import { Registry } from 'prom-client'
import request from 'supertest'
import { loadConfig } from '../../src/config/load'
import { Failure } from '../../src/domain/failures'
import { noMetrics, type Metrics } from '../../src/domain/metrics'
import { routeLabel } from '../../src/server/handler'
import type { OidcClient } from '../../src/oidc/client'
import { observedOidcClient } from '../../src/oidc/observed'
import { createMetrics } from '../../src/ops/metrics'
import { problemsWith, productionEnv } from '../support/server-env'

const env = productionEnv
const problems = problemsWith

describe('METRICS_PORT and METRICS_HOST', () => {
  test('off unless METRICS_PORT is set; then on loopback unless METRICS_HOST says otherwise', () => {
    expect(loadConfig(env).metrics).toBeUndefined()
    expect(loadConfig({ ...env, METRICS_PORT: '' }).metrics).toBeUndefined()
    expect(loadConfig({ ...env, METRICS_PORT: '9464' }).metrics).toEqual({ host: '127.0.0.1', port: 9464 })
    expect(loadConfig({ ...env, METRICS_PORT: '9464', METRICS_HOST: '0.0.0.0' }).metrics).toEqual({
      host: '0.0.0.0',
      port: 9464,
    })
  })

  test("never the app's port; a port, or a message saying what one looks like", () => {
    expect(problems({ METRICS_PORT: '3000' })).toEqual([
      "METRICS_PORT: must differ from PORT, so metrics never reach the app's listener (got 3000)",
    ])
    expect(problems({ METRICS_PORT: 'prometheus' })).toEqual([
      'METRICS_PORT: a TCP port for GET /metrics, e.g. 9464; unset: no metrics (got "prometheus")',
    ])
    expect(problems({ METRICS_PORT: '70000' })[0]).toMatch(/^METRICS_PORT: a TCP port, e.g. 9464/)
  })
})

describe('the metrics', () => {
  // Every report once, with the widest values its labels can take.
  function reportEverything(metrics: Metrics): void {
    metrics.request('/auth/sessions/:id', '200', 0.01)
    metrics.upstream('orders', '2xx', 0.02)
    metrics.refresh('ok', 0.1)
    metrics.refreshSlots(8)
    metrics.lockWait('timeout', 5)
    metrics.keycloakError('refresh', 'keycloak_unavailable')
    metrics.exchange('upstream', 'exchange_refused')
    metrics.sessionCreated('web', 'offline', 'mobile_login')
    metrics.sessionEnded('web', 'online', 'backchannel_logout')
    metrics.handoff('started')
    metrics.backchannelLogout('honoured')
    metrics.redisCommand('hgetall', 0.0004)
    metrics.redisError('connection')
    metrics.websocketOpened('live')
    metrics.websocketClosed('live', 'session_ended')
  }

  test('follow Prometheus conventions: counters end in _total, durations are histograms in seconds, the gauges count what is open and the refreshes allowed at once', async () => {
    const registry = new Registry()
    reportEverything(createMetrics(registry))
    const ours = (await registry.getMetricsAsJSON()).filter((m) => m.name.startsWith('keyward_'))
    expect(ours).toHaveLength(16)
    for (const metric of ours) {
      const { name } = metric
      const type = String(metric.type)
      const gauge = name.endsWith('_open') || name === 'keyward_refresh_slots'
      const expected = name.endsWith('_total') ? 'counter' : gauge ? 'gauge' : 'histogram'
      expect({ name, type }).toEqual({ name, type: expected })
      if (type === 'histogram') expect(name).toMatch(/_seconds$/)
    }
    // A socket opened and closed: none open.
    const open = ours.find((m) => m.name === 'keyward_websockets_open')!
    expect(open.values).toEqual([{ labels: { upstream: 'live' }, value: 0 }])
    expect(ours.find((m) => m.name === 'keyward_refresh_slots')!.values).toEqual([{ labels: {}, value: 8 }])
    // Node's own, unprefixed, as dashboards expect them; the event-loop lag among them.
    expect((await registry.getMetricsAsJSON()).map((m) => m.name)).toContain('nodejs_eventloop_lag_seconds')
  })

  test('labels come from a fixed list of names, none of them a user, session, path or address', async () => {
    const registry = new Registry()
    reportEverything(createMetrics(registry))
    const labels = new Set<string>()
    for (const metric of await registry.getMetricsAsJSON()) {
      if (!metric.name.startsWith('keyward_')) continue
      for (const value of metric.values) for (const name of Object.keys(value.labels)) labels.add(name)
    }
    expect([...labels].sort()).toEqual(
      [
        'app',
        'command',
        'kind',
        'le',
        'operation',
        'outcome',
        'purpose',
        'reason',
        'route',
        'status',
        'step',
        'upstream',
        'via',
      ].sort(),
    )
  })

  test('the no-op takes every report', () => {
    expect(() => reportEverything(noMetrics)).not.toThrow()
  })
})

describe('the route label', () => {
  // Read when the answer has gone, as createHandler does.
  function labelled(app: express.Express): { app: express.Express; seen: string[] } {
    const seen: string[] = []
    const outer = express()
    outer.use((req, res, next) => {
      res.once('close', () => seen.push(routeLabel(req)))
      next()
    })
    outer.use(app)
    return { app: outer, seen }
  }

  test("Express's pattern, also when the route fails; `other` when no route matched", async () => {
    const inner = express()
    inner.use(
      express
        .Router()
        .get('/auth/sessions/:id', (_req, res) => void res.json({}))
        .get('/auth/fails', () => {
          throw new Error('boom')
        }),
    )
    const { app, seen } = labelled(inner)
    await request(app).get('/auth/sessions/some-session-id?x=1').expect(200)
    await request(app).get('/auth/fails').expect(500)
    await request(app).get('/no/such/path').expect(404)
    await new Promise((r) => setImmediate(r))
    expect(seen).toEqual(['/auth/sessions/:id', '/auth/fails', 'other'])
  })
})

describe('the Keycloak client, observed', () => {
  test('failures by operation and the failure they became; exchanges by purpose and outcome', async () => {
    const reported: string[] = []
    const client = {
      refresh: () => Promise.reject(new Failure('keycloak_unavailable', 'down')),
      revoke: () => Promise.reject(new Error('an answer that failed validation')),
      exchange: (_subject: string, params: { requested: string }) =>
        params.requested === 'refresh_token'
          ? Promise.resolve({ accessToken: 'a', expiresIn: 60, claims: {} })
          : Promise.reject(new Failure('exchange_refused', 'no')),
    } as unknown as OidcClient
    const observed = observedOidcClient(client, {
      keycloakError: (operation, kind) => reported.push(`error ${operation} ${kind}`),
      exchange: (purpose, outcome) => reported.push(`exchange ${purpose} ${outcome}`),
    })
    await expect(observed.refresh('r')).rejects.toMatchObject({ kind: 'keycloak_unavailable' })
    await expect(observed.revoke('r')).rejects.toThrow('validation')
    await observed.exchange('s', { requested: 'refresh_token' })
    await expect(observed.exchange('s', { requested: 'access_token', audience: 'orders' })).rejects.toMatchObject({
      kind: 'exchange_refused',
    })
    expect(reported).toEqual([
      'error refresh keycloak_unavailable',
      'error revoke error',
      'exchange handoff ok',
      'error exchange exchange_refused',
      'exchange upstream exchange_refused',
    ])
  })
})
