/**
 * A Valkey Cluster that changes under a running cache: a slot migrated to another primary
 * (ASK while it moves, MOVED after) and a primary that dies and is replaced by its replica.
 * Runs on a cluster of its own (3 primaries + 3 replicas), not the shared one.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startCluster, valkeyCommand, type Reply, type ValkeyCluster } from '../scripts/valkey.mjs'
import { Cache } from '../ts/index'

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

describe('Valkey Cluster topology changes', () => {
  let cluster: ValkeyCluster
  let cache: Cache
  beforeAll(async () => {
    cluster = await startCluster({ primaries: 3, replicas: 1 })
    cache = new Cache({ nodes: cluster.nodes, prefix: 'topo:' })
  }, 60_000)
  afterAll(async () => {
    await cache?.close()
    await cluster?.stop()
  })

  /** Index in `cluster.nodes` of the primary owning `key`. */
  async function ownerIndex(key: string): Promise<number> {
    const slot = Number(await valkeyCommand(cluster.nodes[0], 'CLUSTER', 'KEYSLOT', key))
    const ranges = (await valkeyCommand<Reply[]>(cluster.nodes[0], 'CLUSTER', 'SLOTS')) as [
      number,
      number,
      [string, number],
    ][]
    const [, , [, port]] = ranges.find(([from, to]) => slot >= from && slot <= to)!
    return cluster.nodes.findIndex((n) => n.endsWith(`:${port}`))
  }

  it('follows ASK while a slot migrates and MOVED after it moved', async () => {
    const n = cluster.nodes
    await cache.setMany([
      { key: '{t}a', value: 'A' },
      { key: '{t}c', value: 'C' },
    ])
    const slot = Number(await valkeyCommand(n[0], 'CLUSTER', 'KEYSLOT', 'topo:{t}a'))
    const src = await ownerIndex('topo:{t}a')
    const dst = (src + 1) % n.length
    const ids = await Promise.all(n.map((u) => valkeyCommand<string>(u, 'CLUSTER', 'MYID')))
    const [host, port] = n[dst].replace('redis://', '').split(':')
    await valkeyCommand(n[dst], 'CLUSTER', 'SETSLOT', slot, 'IMPORTING', ids[src])
    await valkeyCommand(n[src], 'CLUSTER', 'SETSLOT', slot, 'MIGRATING', ids[dst])
    await valkeyCommand(n[src], 'MIGRATE', host, port, '', 0, 5000, 'KEYS', 'topo:{t}c')
    // Half-migrated: a on the source, c on the target (ASK), a new key b goes to the target.
    expect(await cache.getMany(['{t}a', '{t}c'])).toEqual(['A', 'C'])
    await cache.set('{t}b', 'B')
    expect(await cache.getMany(['{t}a', '{t}b', '{t}c', '{t}none'])).toEqual(['A', 'B', 'C', undefined])
    await valkeyCommand(n[src], 'MIGRATE', host, port, '', 0, 5000, 'KEYS', 'topo:{t}a')
    for (const u of n) await valkeyCommand(u, 'CLUSTER', 'SETSLOT', slot, 'NODE', ids[dst])
    expect(await valkeyCommand(n[dst], 'DBSIZE')).toBeGreaterThanOrEqual(3)
    // Moved: the first batch is redirected, later ones go straight to the new owner.
    for (let i = 0; i < 3; i++) {
      expect(await cache.getMany(['{t}a', '{t}b', '{t}c'])).toEqual(['A', 'B', 'C'])
      await sleep(120)
    }
    expect(await cache.delete('{t}a')).toBe(true)
    expect(await cache.deleteMatching('{t}*')).toBe(2)
    expect(cache.stats().errors).toBe(0)
  })

  it('fails fast while a primary is down, then serves its keys from the promoted replica', async () => {
    const keys = Array.from({ length: 60 }, (_, i) => `k${i}`)
    await cache.setMany(keys.map((key, i) => ({ key, value: i })))
    await sleep(300) // let the replicas catch up
    const victim = await ownerIndex('topo:k0')
    cluster.servers[victim].kill()
    const down = await cache.getMany(keys) // a miss, not an error (the test timeout bounds any hang)
    expect(down[0]).toBeUndefined()
    expect((await cache.health()).ok).toBe(false)
    let got: unknown[] = []
    const t0 = Date.now()
    while (Date.now() - t0 < 30_000) {
      await sleep(200)
      got = await cache.getMany(keys)
      if (got.every((v) => v !== undefined)) break
    }
    expect(got).toEqual(keys.map((_, i) => i))
    await cache.set('k0', 'after')
    expect(await cache.get('k0')).toBe('after')
  }, 60_000)
})
