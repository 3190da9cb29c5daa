/**
 * Valkey Cluster specifics: keys spread over every primary, so batches, tags, deleteMatching/clear
 * and the cross-process getOrSet lock must all work across slots and nodes.
 */
import { afterAll, describe, expect, it } from 'vitest'
import { arrivals, run } from './fixtures/run-worker'
import { valkeyCommand, type Reply } from '../scripts/valkey.mjs'
import { Cache, type CacheOptions } from '../ts/index'
import { clusterNodes } from './cluster-nodes'
import { rejection, uniquePrefix } from './contract'
import { clusterCommand } from './fixtures/cluster-command.mjs'

const open: Cache[] = []
const make = (extra: CacheOptions = {}): Cache => {
  const c = new Cache({ nodes: clusterNodes(), prefix: uniquePrefix('cluster'), ...extra })
  open.push(c)
  return c
}
afterAll(async () => {
  await Promise.all(open.map((c) => c.close()))
})

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0)

/** Keys matching `pattern` stored on one node (SCAN on that node only). */
async function keysOn(node: string, pattern: string): Promise<string[]> {
  const out: string[] = []
  let cursor = '0'
  do {
    const [next, keys] = (await valkeyCommand(node, 'SCAN', cursor, 'MATCH', pattern, 'COUNT', 1000)) as [
      string,
      string[],
    ]
    out.push(...keys)
    cursor = String(next)
  } while (cursor !== '0')
  return out
}

/** How many keys matching `pattern` each primary holds, in `clusterNodes()` order. */
const perNode = (pattern: string) =>
  Promise.all(clusterNodes().map((n) => keysOn(n, pattern).then((k) => k.length)))

/** The node URL owning a key, from CLUSTER SLOTS. */
async function ownerOf(): Promise<(key: string) => Promise<string>> {
  const nodes = clusterNodes()
  const slots = (await valkeyCommand<Reply[]>(nodes[0], 'CLUSTER', 'SLOTS')) as [number, number, Reply[]][]
  const ranges = slots.map(([from, to, [host, port]]) => ({ from, to, url: `redis://${host}:${port}` }))
  return async (key) => {
    const slot = Number(await valkeyCommand(nodes[0], 'CLUSTER', 'KEYSLOT', key))
    return ranges.find((r) => slot >= r.from && slot <= r.to)!.url
  }
}

describe('Valkey Cluster', () => {
  it('validates nodes', () => {
    const nodes = clusterNodes()
    for (const bad of [[], ['http://x:1'], 'redis://127.0.0.1:1', [42]]) {
      expect(() => new Cache({ nodes: bad as string[] })).toThrow(
        expect.objectContaining({ code: 'E_INVALID_OPTION' }),
      )
    }
    expect(() => new Cache({ nodes, url: nodes[0] })).toThrow(
      expect.objectContaining({ code: 'E_INVALID_OPTION', message: expect.stringMatching(/together/) }),
    )
  })

  it('reports mode cluster and checks every primary', async () => {
    const h = await make().health()
    expect(h).toMatchObject({ ok: true, mode: 'cluster' })
  })

  it('setMany/getMany of 200 keys over every primary keep their order', async () => {
    const cache = make()
    const keys = Array.from({ length: 200 }, (_, i) => `k${i}`)
    await cache.setMany(keys.map((key, i) => ({ key, value: { i, at: new Date(i) } })))
    const counts = await perNode(`${cache.prefix}*`)
    expect(sum(counts)).toBe(200)
    for (const n of counts) expect(n).toBeGreaterThan(20) // on every primary
    const slots = new Set(
      await Promise.all(
        keys.map((k) => valkeyCommand(clusterNodes()[0], 'CLUSTER', 'KEYSLOT', cache.prefix + k)),
      ),
    )
    expect(slots.size).toBeGreaterThan(150)
    const mixed = keys.flatMap((k) => [k, `${k}:missing`])
    const got = await cache.getMany(mixed)
    got.forEach((v, j) => expect(v).toEqual(j % 2 ? undefined : { i: j / 2, at: new Date(j / 2) }))
    // Deletes and existence checks across slots, in one batch each.
    const deleted = await Promise.all(keys.slice(0, 50).map((k) => cache.delete(k)))
    expect(deleted).toEqual(Array(50).fill(true))
    const has = await Promise.all(keys.slice(0, 100).map((k) => cache.has(k)))
    expect(has).toEqual([...Array(50).fill(false), ...Array(50).fill(true)])
  })

  it('deleteMatching and clear remove keys on every primary and leave other prefixes alone', async () => {
    const cache = make()
    const other = make()
    const entries = Array.from({ length: 300 }, (_, i) => ({ key: `${i % 2 ? 'a' : 'b'}:${i}`, value: i }))
    await cache.setMany(entries)
    await other.setMany(entries)
    const before = await perNode(`${cache.prefix}*`)
    expect(sum(before)).toBe(300)
    for (const n of before) expect(n).toBeGreaterThan(0)

    expect(await cache.deleteMatching('a:*')).toBe(150)
    expect(sum(await perNode(`${cache.prefix}a:*`))).toBe(0)
    const left = await perNode(`${cache.prefix}b:*`)
    expect(sum(left)).toBe(150)
    for (const n of left) expect(n).toBeGreaterThan(0)

    await cache.clear()
    expect(await perNode(`${cache.prefix}*`)).toEqual([0, 0, 0])
    const untouched = await perNode(`${other.prefix}*`)
    expect(sum(untouched)).toBe(300)
    for (const n of untouched) expect(n).toBeGreaterThan(0)
    expect(await other.getMany(entries.map((e) => e.key))).toEqual(entries.map((e) => e.value))
  })

  it('tags whose markers live on different primaries', async () => {
    const a = make()
    const b = new Cache({ nodes: clusterNodes(), prefix: a.prefix })
    open.push(b)
    const owner = await ownerOf()
    // Pick tags until their markers cover every primary.
    const tags: string[] = []
    const covered = new Set<string>()
    for (let i = 0; covered.size < clusterNodes().length || tags.length < 6; i++) {
      tags.push(`t${i}`)
      covered.add(await owner(`${a.prefix}\u0000tag:t${i}`))
    }
    const entries = Array.from({ length: 120 }, (_, i) => ({
      key: `e${i}`,
      value: { i },
      tags: [tags[i % tags.length], tags[(i + 1) % tags.length]],
    }))
    await a.setMany(entries)
    await a.set('everything', 'x', { tags })
    await a.invalidateTags([tags[0]])
    for (const reader of [a, b]) {
      const got = await reader.getMany(entries.map((e) => e.key))
      got.forEach((v, i) => expect(v).toEqual(entries[i].tags.includes(tags[0]) ? undefined : { i }))
      expect(await reader.get('everything')).toBeUndefined()
    }
    await a.set('everything', 'y', { tags })
    expect(await b.get('everything')).toBe('y')
    await b.invalidateTags([tags[tags.length - 1]])
    expect(await a.get('everything')).toBeUndefined()
  })

  it('fails fast with typed errors while no node answers, and reads miss', async () => {
    const dead = 'redis://127.0.0.1:1'
    const cache = new Cache({ nodes: [dead], prefix: uniquePrefix('dead'), connectTimeoutMs: 300 })
    open.push(cache)
    expect(await cache.get('k')).toBeUndefined()
    expect(['E_CONNECTION', 'E_TIMEOUT']).toContain((await rejection(cache.set('k', 1))).code)
    expect(await cache.health()).toMatchObject({ ok: false, mode: 'cluster' })
    expect(cache.stats().errors).toBeGreaterThan(0)
  })
})

describe('cross-process single-flight on a Valkey Cluster', () => {
  it('4 processes × 250 concurrent calls on a cold key → exactly one load in total', async () => {
    const nodes = clusterNodes()
    const key = `cold-${process.pid}-${Date.now()}`
    const counter = `count:${key}`
    const startAt = String(Date.now() + 1500)
    const workers = Array.from({ length: 4 }, () =>
      run([JSON.stringify(nodes), key, counter, '250', '500', startAt, 'normal', '5000', '4']),
    )
    const reports = await Promise.all(workers.map((w) => w.done))
    expect(Number(await clusterCommand(nodes, 'GET', counter))).toBe(1)
    expect(new Set(reports.flatMap((r) => r.pids)).size).toBe(1)
    for (const r of reports) {
      expect(r.count).toBe(250)
      expect(r.allDates).toBe(true)
    }
    expect(reports.reduce((n, r) => n + r.stats.loads, 0)).toBe(1)
    expect(reports.reduce((n, r) => n + r.stats.lockWaits, 0)).toBe(3)
  }, 60_000)

  it('an owner killed mid-load does not deadlock: its lease expires and a waiter takes over', async () => {
    const nodes = JSON.stringify(clusterNodes())
    const key = `killed-${process.pid}-${Date.now()}`
    const counter = `count:${key}`
    const owner = run([nodes, key, counter, '1', '50', '0', 'hang', '3000'])
    owner.done.catch(() => {}) // it is killed on purpose
    expect(await owner.firstLine).toBe('LOADING')
    const waiter = run([nodes, key, counter, '10', '50', '0', 'normal', '800'])
    // Killed only once the waiter is calling, so it finds the lease held (its lockWait below)
    // however slowly it started.
    await arrivals((k) => clusterCommand(clusterNodes(), 'GET', k), counter, 2)
    await new Promise((r) => setTimeout(r, 100))
    owner.child.kill('SIGKILL')
    const report = await waiter.done
    expect(report.pids).toEqual([report.pid])
    expect(report.stats.loads).toBe(1)
    expect(report.stats.lockWaits).toBe(1)
    expect(Number(await clusterCommand(clusterNodes(), 'GET', counter))).toBe(2)
  }, 60_000)
})
