/** inspect() and keys() against real servers: a dedicated standalone, the 3-primary cluster, a cluster with a replica. */
import { randomBytes } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { startCluster, startValkey, valkeyCommand, type ValkeyServer } from '../scripts/valkey.mjs'
import { Cache } from '../ts/index'
import { uniquePrefix } from './contract'

const open: Cache[] = []
afterAll(async () => {
  await Promise.all(open.map((c) => c.close()))
})
function track(c: Cache): Cache {
  open.push(c)
  return c
}

const SECRET_VALUE = 'TOPSECRET-value-' + Math.random().toString(36).slice(2)

describe('inspect() on a standalone server', () => {
  let server: ValkeyServer
  let url: string
  const password = 'pw-' + Math.random().toString(36).slice(2)
  beforeAll(async () => {
    server = await startValkey({ password, args: ['--slowlog-log-slower-than', '0', '--maxmemory', '64mb'] })
    url = server.url
  })
  afterAll(async () => {
    await server.stop()
  })

  it('reports the server, this prefix only, exact counts, biggest keys, tag markers, slowlog names and keys', async () => {
    const a = track(new Cache({ url, prefix: 'a:', logger: false }))
    const b = track(new Cache({ url, prefix: 'b:', logger: false }))
    await a.setMany(Array.from({ length: 300 }, (_, i) => ({ key: `k${i}`, value: i, tags: [`t${i % 4}`] })))
    await b.setMany(Array.from({ length: 500 }, (_, i) => ({ key: `k${i}`, value: i })))
    await a.set('big', randomBytes(200_000), { ttl: 60 }) // incompressible
    await a.set('secret', SECRET_VALUE)
    await a.invalidateTags(['t0', 't1', 't2', 't3'])
    await a.getOrSet('loaded', () => 1)

    const r = await a.inspect({ sample: 1000, top: 3, slowlog: 128 })
    expect(r.mode).toBe('standalone')
    expect(r.servers).toHaveLength(1)
    const s = r.servers[0]
    expect(s).toMatchObject({
      address: `127.0.0.1:${server.port}`,
      role: 'primary',
      maxMemory: 64 * 1024 * 1024,
    })
    expect(s.version).toMatch(/^\d+\.\d+\.\d+/)
    expect(s.usedMemory).toBeGreaterThan(0)
    expect(s.connectedClients).toBeGreaterThanOrEqual(1)
    expect(s.dbKeys).toBeGreaterThanOrEqual(300 + 500 + 3)
    expect(r.keys).toMatchObject({ exact: true, estimated: 303, sampled: 303, tagMarkers: 4 })
    expect(r.keys.biggest).toHaveLength(3)
    expect(r.keys.biggest[0].key).toBe('big')
    expect(r.keys.biggest[0].bytes).toBeGreaterThan(200_000)
    expect(r.keys.biggest[0].ttlMs).toBeGreaterThan(0)
    expect(r.keys.biggest[0].ttlMs).toBeLessThanOrEqual(60_000)
    expect(r.keys.sampledBytes).toBeGreaterThan(200_000)
    expect(r.slowlog.length).toBeGreaterThan(0)
    expect(r.slowlog.some((e) => e.command === 'SET' && e.key === 'a:secret')).toBe(true)
    const everything = JSON.stringify(r)
    expect(everything).not.toContain(SECRET_VALUE)
    expect(everything).not.toContain(password)
    expect(r.client.sets).toBeGreaterThanOrEqual(302)
  })

  it('bounded work: at most maxScanBatches SCAN calls and `sample` sized keys, then an estimate', async () => {
    const c = track(new Cache({ url, prefix: uniquePrefix('bounded'), logger: false }))
    await c.setMany(Array.from({ length: 5000 }, (_, i) => ({ key: `k${i}`, value: i })))
    const r = await c.inspect({ sample: 20, maxScanBatches: 2 })
    expect(r.keys.scanBatches).toBe(2)
    expect(r.keys.sampled).toBe(20)
    expect(r.keys.exact).toBe(false)
    expect(r.keys.scanned).toBeLessThan(r.servers[0].dbKeys)
    expect(r.keys.estimated).toBeGreaterThan(5000 * 0.7)
    expect(r.keys.estimated).toBeLessThan(5000 * 1.3)
  })

  it('a namespace counts only its own keys; keys() lists them, prefix stripped, internal keys skipped', async () => {
    const c = track(new Cache({ url, prefix: uniquePrefix('ns'), logger: false }))
    const users = c.namespace('users')
    await users.setMany(Array.from({ length: 30 }, (_, i) => ({ key: String(i), value: i, tags: ['u'] })))
    await c.set('other', 1)
    await c.invalidateTags(['u'])
    const r = await users.inspect()
    expect(r.keys).toMatchObject({ exact: true, estimated: 30 })
    const listed: string[] = []
    for await (const k of users.keys()) listed.push(k)
    expect(listed.sort()).toEqual(Array.from({ length: 30 }, (_, i) => String(i)).sort())
    const all: string[] = []
    for await (const k of c.keys('*')) all.push(k)
    expect(all).toHaveLength(31) // the tag marker is not listed
  })

  it('refused credentials reject with E_AUTH', async () => {
    const bad = track(new Cache({ url: `redis://:wrong@127.0.0.1:${server.port}`, logger: false }))
    await expect(bad.inspect()).rejects.toMatchObject({ code: 'E_AUTH' })
  })
})

describe('inspect() on a Valkey Cluster', () => {
  it('100k keys under two prefixes: every primary reported, only this prefix counted, bounded sampling', async () => {
    const nodes = inject('clusterNodes')
    expect(nodes.length).toBe(3)
    const a = track(new Cache({ nodes, prefix: uniquePrefix('ia'), logger: false }))
    const b = track(new Cache({ nodes, prefix: uniquePrefix('ib'), logger: false }))
    for (let i = 0; i < 50_000; i += 5000) {
      await Promise.all([
        a.setMany(Array.from({ length: 5000 }, (_, j) => ({ key: `k${i + j}`, value: i + j, ttl: 600 }))),
        b.setMany(Array.from({ length: 5000 }, (_, j) => ({ key: `k${i + j}`, value: i + j, ttl: 600 }))),
      ])
    }
    const full = await a.inspect({ sample: 1000, maxScanBatches: 10_000 })
    expect(full.mode).toBe('cluster')
    expect(full.servers.map((s) => s.role)).toEqual(['primary', 'primary', 'primary'])
    expect(full.keys).toMatchObject({ exact: true, estimated: 50_000 })
    expect(full.keys.sampled).toBeLessThanOrEqual(1002) // ceil(1000 / 3) per primary
    expect(full.keys.sampled).toBeGreaterThanOrEqual(900)

    const bounded = await a.inspect({ sample: 300, maxScanBatches: 5 })
    expect(bounded.keys.scanBatches).toBeLessThanOrEqual(3 * 5)
    expect(bounded.keys.sampled).toBeLessThanOrEqual(300)
    expect(bounded.keys.estimated).toBeGreaterThan(50_000 * 0.75)
    expect(bounded.keys.estimated).toBeLessThan(50_000 * 1.25)

    await a.clear()
    await b.clear()
  }, 120_000)

  it('reports replicas too', async () => {
    const cluster = await startCluster({ primaries: 1, replicas: 1 })
    try {
      const c = track(new Cache({ nodes: cluster.nodes, prefix: uniquePrefix('rep'), logger: false }))
      await c.set('x', 1)
      const r = await c.inspect()
      expect(r.servers.map((s) => s.role)).toEqual(['primary', 'replica'])
      expect(r.servers[1].address).toBe(`127.0.0.1:${cluster.servers[1].port}`)
      expect(r.keys).toMatchObject({ exact: true, estimated: 1 }) // replicas are not scanned twice
      await valkeyCommand(cluster.nodes[0], 'PING')
    } finally {
      await cluster.stop()
    }
  }, 60_000)
})

describe('inspect() in memory mode', () => {
  it('reports the client only', async () => {
    const c = track(new Cache({ logger: false }))
    await c.set('a', 1)
    const r = await c.inspect()
    expect(r).toMatchObject({ mode: 'memory', servers: [], slowlog: [] })
    expect(r.client.sets).toBe(1)
  })
})
