/** `cache.keys(pattern?)`: SCAN pages under the prefix, every primary, in every mode. */
import { afterAll, describe, expect, inject, it } from 'vitest'
import { Cache, type CacheOptions } from '../ts/index'
import { clusterNodes } from './cluster-nodes'

const caches: Cache[] = []
afterAll(() => Promise.all(caches.map((c) => c.close())))
const collect = async (it: AsyncIterable<string>) => {
  const out: string[] = []
  for await (const k of it) out.push(k)
  return out.sort()
}

const modes: [string, () => CacheOptions][] = [
  ['memory', () => ({})],
  ['standalone', () => ({ url: inject('valkeyUrl') })],
  ['cluster', () => ({ nodes: clusterNodes() })],
]

describe.each(modes)('keys() (%s)', (_mode, opts) => {
  const make = (prefix: string) => {
    const c = new Cache({ ...opts(), prefix })
    caches.push(c)
    return c
  }

  it('yields every key under the prefix (stripped), more than one SCAN page, nothing else', async () => {
    const prefix = `keys${process.pid}${Math.random().toString(36).slice(2)}:`
    const cache = make(prefix)
    const other = make(prefix.slice(0, -1) + 'x:')
    const want = Array.from({ length: 1200 }, (_, i) => `k${i}`)
    await cache.setMany(want.map((key) => ({ key, value: 1 })))
    await other.set('k0', 1)
    await cache.set('tagged', 1, { tags: ['t'] })
    await cache.invalidateTags(['t']) // writes a tag marker under the prefix: not a user key
    const got = await collect(cache.keys())
    expect(got).toEqual([...want, 'tagged'].sort())
  })

  it('filters with a glob, escapes the prefix, and covers namespaces', async () => {
    const cache = make(`keys*[${process.pid}]:`)
    await cache.clear()
    await cache.setMany([
      { key: 'user:1', value: 1 },
      { key: 'user:2', value: 2 },
      { key: 'post:1', value: 3 },
    ])
    await cache.namespace('ns').set('a', 1)
    expect(await collect(cache.keys('user:*'))).toEqual(['user:1', 'user:2'])
    expect(await collect(cache.namespace('ns').keys())).toEqual(['a'])
    expect(await collect(cache.keys())).toEqual(['ns:a', 'post:1', 'user:1', 'user:2'])
  })

  it('leaves out expired entries, keeps ttl: Infinity ones', async () => {
    const cache = make(`keysttl${process.pid}:`)
    await cache.clear()
    await cache.set('short', 1, { ttl: 0.05 })
    await cache.set('forever', 1, { ttl: Infinity })
    await new Promise((r) => setTimeout(r, 120))
    expect(await collect(cache.keys())).toEqual(['forever'])
  })

  it('rejects a bad pattern with E_INVALID_KEY and a closed cache with E_CLOSED', async () => {
    const cache = new Cache({ ...opts(), prefix: 'keysbad:' })
    await expect(collect(cache.keys(''))).rejects.toMatchObject({ code: 'E_INVALID_KEY' })
    await cache.close()
    await expect(collect(cache.keys())).rejects.toMatchObject({ code: 'E_CLOSED' })
  })
})
