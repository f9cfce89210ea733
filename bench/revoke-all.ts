/**
 * Revoke-all over many sessions of one Keycloak session: N logins by single sign-on in one browser,
 * keyward's cookie dropped each time (what a session cap now stops, so the caps are off here), then
 * one `DELETE /auth/sessions`. Reports its time, the Redis commands it cost (from Redis's own command
 * statistics) and Keycloak's revocations (its REVOKE_GRANT events).
 *   BENCH_SESSIONS (1000)
 */
import { Browser } from '../harness/browser'
import { KeycloakAdmin } from '../harness/keycloak-admin'
import { testEnv } from '../harness/keyward'
import { keycloak, keyward, machine, main, privateRedis } from './lib'
import { scanKeys } from '../harness/redis-topology'

const SESSIONS = Number(process.env.BENCH_SESSIONS ?? 1000)

main(async (atExit) => {
  keycloak()
  const redis = await privateRedis()
  atExit(async () => (redis.client.disconnect(), redis.server.stop()))
  const env = testEnv({
    REDIS_URL: redis.url,
    LOG_LEVEL: 'warn',
    MAX_SESSIONS_PER_USER: '0',
    MAX_SESSIONS_PER_KEYCLOAK_SESSION: '0',
  })
  const kw = await keyward(env, 1)
  atExit(() => kw.proc.kill('SIGTERM'))
  const admin = new KeycloakAdmin()

  const browser = new Browser()
  const started = Date.now()
  for (let i = 0; i < SESSIONS; i++) {
    await browser.forgetKeywardCookies(kw.url)
    await browser.login(kw.url, 'alice', 'alice-password')
  }
  console.log(`${SESSIONS} logins by single sign-on in ${((Date.now() - started) / 1000).toFixed(1)} s`)
  const keys = await scanKeys(redis.client, `${env.REDIS_PREFIX}tok:*`)
  const sid = JSON.parse((await redis.client.hget(keys[0], 'm'))!).sid as string
  const revocations = async () =>
    (
      await admin.call<{ sessionId: string }[]>('GET', `/events?type=REVOKE_GRANT&client=keyward-web&max=${SESSIONS}`)
    ).filter((e) => e.sessionId === sid).length
  const revokedBefore = await revocations()

  await redis.client.config('RESETSTAT')
  const t0 = performance.now()
  const res = await browser.request(`${kw.url}/auth/sessions`, { method: 'DELETE', headers: { 'x-csrf': '1' } })
  const ms = performance.now() - t0
  const stats = await redis.client.info('commandstats')
  const calls = [...stats.matchAll(/cmdstat_(\w+):calls=(\d+)/g)].map(([, name, n]) => [name, Number(n)] as const)
  const count = (name: string) => calls.find(([n]) => n === name)?.[1] ?? 0
  const revoked = (JSON.parse(res.text) as { revoked: string[] }).revoked.length

  console.log(`\n${machine()}; ${SESSIONS} sessions of alice in one Keycloak session, keyward with 1 worker\n`)
  console.log(`DELETE /auth/sessions: ${res.status}, ${revoked} revoked, ${ms.toFixed(0)} ms`)
  console.log(
    `Redis commands: ${calls.reduce((n, [, c]) => n + c, 0) - count('info') - count('config')} ` +
      `(HGETALL ${count('hgetall')}, ZRANGEBYSCORE ${count('zrangebyscore')}, DEL ${count('del')}, ZREM ${count('zrem')})`,
  )
  console.log(`Keycloak revocations (REVOKE_GRANT of that session): ${(await revocations()) - revokedBefore}`)
  console.log(`token sessions left in Redis: ${(await scanKeys(redis.client, `${env.REDIS_PREFIX}tok:*`)).length}`)
})
