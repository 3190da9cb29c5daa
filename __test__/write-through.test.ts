/** writeThrough on a real Valkey and in memory: source first, nothing stale, the written value wins. */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { Cache, type CacheOptions } from '../ts/index'
import { startValkey, valkeyCommand } from '../scripts/valkey.mjs'
import { clusterNodes } from './cluster-nodes'
import { cacheFactory, uniquePrefix } from './contract'

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

function suite(mode: string, base: () => CacheOptions): void {
  const { make, track } = cacheFactory(`wt-${mode}`, base)
  describe(`writeThrough (${mode})`, () => {
    it('writes the source first, then caches; a failing write rejects with its error, cache untouched', async () => {
      const cache = make()
      const db = new Map<string, unknown>()
      await cache.writeThrough('u:1', { name: 'Ada' }, (v) => void db.set('u:1', v), { ttl: 60 })
      expect(db.get('u:1')).toEqual({ name: 'Ada' })
      expect(await cache.get('u:1')).toEqual({ name: 'Ada' })
      const boom = new Error('constraint violated')
      const sets = cache.stats().sets
      await expect(
        cache.writeThrough('u:1', { name: 'Bob' }, async () => {
          await sleep(5)
          throw boom
        }),
      ).rejects.toBe(boom)
      expect(await cache.get('u:1')).toEqual({ name: 'Ada' })
      expect(cache.stats().sets).toBe(sets)
      expect(cache.stats().writeThroughErrors).toBe(0)
      await expect(cache.writeThrough('u:1', undefined, () => {})).rejects.toMatchObject({
        code: 'E_INVALID_VALUE',
      })
      await expect(cache.writeThrough('', 1, () => {})).rejects.toMatchObject({ code: 'E_INVALID_KEY' })
    })

    it('caching failing after the write succeeded invalidates the key, resolves, and is counted', async () => {
      const cache = make({ maxValueBytes: 1000 })
      await cache.set('doc', 'old')
      let written: unknown
      // Too large to cache: the source takes it, the cache cannot.
      await cache.writeThrough('doc', 'x'.repeat(5000), (v) => void (written = v))
      expect(written).toHaveLength(5000)
      expect(await cache.get('doc')).toBeUndefined() // not the old value
      expect(cache.stats().writeThroughErrors).toBe(1)
    })

    it('a write racing a slow loader that started before it: the written value wins', async () => {
      const prefix = uniquePrefix(`wt-race-${mode}`)
      const a = make({ prefix })
      const b = mode === 'memory' ? a : track(new Cache({ ...base(), prefix }))
      for (const [reader, label] of [
        [a, 'same instance'],
        [b, 'other instance'],
      ] as const) {
        const key = `row:${label}`
        let db = 'v1'
        const load = reader.getOrSet(
          key,
          async () => {
            const seen = db // reads the old row…
            await sleep(200)
            return seen // …and returns it after the write landed
          },
          { ttl: 60 },
        )
        await sleep(30)
        await a.writeThrough(key, 'v2', (v) => void (db = v))
        expect(await load).toBe('v1') // its caller gets what it loaded
        expect(await a.get(key)).toBe('v2')
        expect(await b.get(key)).toBe('v2')
      }
    })
  })
}

suite('valkey', () => ({ url: inject('valkeyUrl') }))
suite('memory', () => ({}))

describe('writeThrough (valkey refusing writes)', () => {
  let server: { url: string; stop: () => Promise<void> }
  beforeAll(async () => {
    server = await startValkey()
  })
  afterAll(async () => {
    await server?.stop()
  })

  it('Valkey refusing the cache write after the source write: the old value is not served afterwards', async () => {
    const cache = new Cache({ url: server.url, prefix: uniquePrefix('wt-oom') })
    try {
      await cache.set('acct', { balance: 10 })
      await cache.writeThrough('acct', { balance: 20 }, async () => {
        // The cache goes "full" (OOM with noeviction: writes refused, DEL still allowed) right after the source write.
        await valkeyCommand(server.url, 'CONFIG', 'SET', 'maxmemory-policy', 'noeviction')
        await valkeyCommand(server.url, 'CONFIG', 'SET', 'maxmemory', '1')
      })
      expect(cache.stats().writeThroughErrors).toBe(1)
      expect(await cache.get('acct')).toBeUndefined()
      await valkeyCommand(server.url, 'CONFIG', 'SET', 'maxmemory', '0')
      expect(await cache.getOrSet('acct', () => ({ balance: 20 }))).toEqual({ balance: 20 })
    } finally {
      await cache.close()
    }
  })
})

suite('cluster', () => ({ nodes: clusterNodes() }))
