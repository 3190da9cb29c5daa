/**
 * A primary SIGKILLed in a Valkey Cluster under load, its replica taking over: every call settles
 * within commandTimeoutMs (plus slack) and is typed, no read is a wrong value, and the cache
 * serves every slot again by itself once the replica is promoted. A cluster of its own.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Cache } from '../../ts/index'
import { startCluster, valkeyCommand, type ValkeyCluster } from '../../scripts/valkey.mjs'
import { runWorkload } from './workload'
import { noUnhandled, sleep, until } from './track'

noUnhandled()
const COMMAND_MS = 300
let cluster: ValkeyCluster
let cache: Cache
beforeAll(async () => {
  cluster = await startCluster({ primaries: 3, replicas: 1 })
  cache = new Cache({ nodes: cluster.nodes, prefix: 'failover:', commandTimeoutMs: COMMAND_MS })
}, 90_000)
afterAll(async () => {
  await cache?.close()
  await cluster?.stop()
})

describe('a cluster primary killed, its replica promoted', () => {
  it('calls settle typed, reads are never wrong, and every slot is served again by itself', async () => {
    const keys = Array.from({ length: 30 }, (_, i) => `k${i}`) // spread over all three primaries
    await cache.setMany(keys.map((k) => ({ key: k, value: `${k}=0` })))
    const load = runWorkload(cache)
    await sleep(300)
    const [victim] = cluster.servers
    const replica = cluster.servers.find((s) => s.replicaOf === victim)!
    victim.kill('SIGKILL')
    const killed = Date.now()
    await until(async () => {
      const role = String(await valkeyCommand(replica.url, 'ROLE'))
      return role.startsWith('master')
    }, 30_000)
    const promotedMs = Date.now() - killed
    const recoveredMs = await until(async () => {
      await cache.setMany(keys.map((k) => ({ key: k, value: `${k}=after` })))
      const got = await cache.getMany(keys)
      return got.every((v, i) => v === `${keys[i]}=after`)
    }, 30_000)
    await load.stop(COMMAND_MS + 3000)
    load.calls.expectTypedErrors(['E_CONNECTION', 'E_TIMEOUT', 'E_SERVER'])
    console.log(
      `cluster failover: replica promoted ${promotedMs} ms after SIGKILL, cache served every key ` +
        `${recoveredMs} ms later; max call latency ${Math.round(load.calls.maxMs())} ms ` +
        `(commandTimeoutMs ${COMMAND_MS}); ${load.calls.slowest()}`,
    )
    expect(load.calls.maxMs()).toBeLessThan(COMMAND_MS + 2500) // generous: 2 shared cores
    for (const k of keys) {
      const v = await cache.get(k)
      expect(v === undefined || v === `${k}=after` || String(v).startsWith(`${k}=`)).toBe(true)
    }
  }, 90_000)
})
