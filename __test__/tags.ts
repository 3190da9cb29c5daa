/** Tag invalidation semantics, shared by every mode. */
import { describe, expect, it } from 'vitest'
import { Cache, type CacheOptions } from '../ts/index'
import { cacheFactory, rejection } from './contract'

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

export function tagSuite(mode: string, base: () => CacheOptions): void {
  const { make, track } = cacheFactory(`tags-${mode}`, base)

  describe(`tags (${mode})`, () => {
    it('10k keys over 100 tags: invalidating one tag misses exactly its keys, on every instance', async () => {
      const a = make()
      const b = track(new Cache({ ...base(), prefix: a.prefix }))
      const entries = Array.from({ length: 10_000 }, (_, i) => ({
        key: `k${i}`,
        value: { i },
        tags: [`t${i % 100}`, 'all'],
      }))
      for (let i = 0; i < entries.length; i += 1000) await a.setMany(entries.slice(i, i + 1000))
      await a.invalidateTags(['t7'])
      for (const reader of mode === 'memory' ? [a] : [a, b]) {
        const got = await reader.getMany(entries.map((e) => e.key))
        got.forEach((v, i) => {
          if (i % 100 === 7) expect(v).toBeUndefined()
          else expect(v).toEqual({ i })
        })
      }
    })

    it('namespaces share tags; rewriting after invalidation makes the entry valid again', async () => {
      const cache = make()
      const users = cache.namespace('users')
      await users.set('1', 'ada', { tags: ['team:1'] })
      await cache.set('other', 'x', { tags: ['team:2'] })
      await cache.invalidateTags(['team:1'])
      expect(await users.get('1')).toBeUndefined()
      expect(await cache.get('other')).toBe('x')
      await users.set('1', 'ada v2', { tags: ['team:1'] })
      expect(await users.get('1')).toBe('ada v2')
      expect(await users.has('1')).toBe(true)
    })

    it('getOrSet reloads after invalidation; with grace it serves stale while refreshing', async () => {
      const cache = make()
      let n = 0
      const loader = async () => `v${++n}`
      expect(await cache.getOrSet('p', loader, { tags: ['posts'] })).toBe('v1')
      await cache.invalidateTags(['posts'])
      expect(await cache.getOrSet('p', loader, { tags: ['posts'] })).toBe('v2')
      expect(await cache.getOrSet('g', loader, { tags: ['posts'], grace: 60 })).toBe('v3')
      await cache.invalidateTags(['posts'])
      expect(await cache.getOrSet('g', loader, { tags: ['posts'], grace: 60 })).toBe('v3') // stale
      await sleep(50)
      expect(await cache.getOrSet('g', loader, { tags: ['posts'], grace: 60 })).toBe('v4') // refreshed
      expect(cache.stats().staleServed).toBeGreaterThanOrEqual(1)
    })

    it('the loader can set tags from the data it loaded', async () => {
      const cache = make()
      await cache.getOrSet('doc', (ctx) => {
        ctx.setTags(['doc:9'])
        return { id: 9 }
      })
      await cache.invalidateTags(['doc:9'])
      expect(await cache.get('doc')).toBeUndefined()
    })

    it('rejects bad tags', async () => {
      const cache = make()
      expect((await rejection(cache.set('k', 1, { tags: [''] }))).code).toBe('E_INVALID_OPTION')
      expect((await rejection(cache.set('k', 1, { tags: 'x' as never }))).code).toBe('E_INVALID_OPTION')
      expect((await rejection(cache.invalidateTags([1 as never]))).code).toBe('E_INVALID_OPTION')
    })
  })
}
