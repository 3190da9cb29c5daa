/** getOrSet semantics that hold in every mode (in-process single-flight, errors, grace, timeouts). */
import { describe, expect, it } from 'vitest'
import type { CacheOptions } from '../ts/index'
import { cacheFactory, rejection } from './contract'

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

export function getOrSetSuite(mode: string, base: () => CacheOptions): void {
  const { make } = cacheFactory(`gos-${mode}`, base)

  describe(`getOrSet (${mode})`, () => {
    it('500 concurrent calls on a cold key run the loader once and share its value', async () => {
      const cache = make()
      let calls = 0
      const loader = async () => {
        calls++
        await sleep(50)
        return { at: new Date(0), n: 42 }
      }
      const results = await Promise.all(Array.from({ length: 500 }, () => cache.getOrSet('cold', loader)))
      expect(calls).toBe(1)
      for (const r of results) expect(r).toEqual({ at: new Date(0), n: 42 })
      const s = cache.stats()
      expect(s.loads).toBe(1)
      expect(s.coalesced).toBe(499)
      // Now cached: no further loads.
      expect(await cache.getOrSet('cold', loader)).toEqual({ at: new Date(0), n: 42 })
      expect(calls).toBe(1)
    })

    it('a loader error reaches every waiter as the same object and is not cached', async () => {
      const cache = make()
      const boom = new Error('db down')
      let calls = 0
      const failing = async () => {
        calls++
        await sleep(20)
        throw boom
      }
      const settled = await Promise.allSettled(Array.from({ length: 20 }, () => cache.getOrSet('e', failing)))
      for (const s of settled) expect(s).toEqual({ status: 'rejected', reason: boom })
      expect(calls).toBe(1)
      expect(cache.stats().loadErrors).toBe(1)
      expect(await cache.getOrSet('e', () => 'ok')).toBe('ok')
      expect(calls).toBe(1)
    })

    it('handles sync throws, plain values, undefined and never-settling loaders', async () => {
      const cache = make()
      const sync = new Error('sync')
      await expect(
        cache.getOrSet('s', () => {
          throw sync
        }),
      ).rejects.toBe(sync)
      expect(await cache.getOrSet('p', () => 7)).toBe(7)
      expect((await rejection(cache.getOrSet('u', () => undefined))).code).toBe('E_INVALID_VALUE')
      const hung = await rejection(cache.getOrSet('h', () => new Promise(() => {}), { hardTimeoutMs: 50 }))
      expect(hung.code).toBe('E_TIMEOUT')
      // The key is free again: a later call loads normally.
      expect(await cache.getOrSet('h', () => 'fine')).toBe('fine')
      expect((await rejection(cache.getOrSet('x', 'nope' as never))).code).toBe('E_INVALID_OPTION')
      expect((await rejection(cache.getOrSet('x', () => 1, { grace: -1 }))).code).toBe('E_INVALID_OPTION')
    })

    it('setTtl from the loader context sets the entry ttl', async () => {
      const cache = make()
      await cache.getOrSet(
        'short',
        (ctx) => {
          ctx.setTtl(0.05)
          return 'v'
        },
        { ttl: 60 },
      )
      expect(await cache.get('short')).toBe('v')
      await sleep(120)
      expect(await cache.get('short')).toBeUndefined()
    })

    it('grace: serves the stale value while exactly one background refresh runs', async () => {
      const cache = make()
      let version = 0
      const loader = async () => {
        version++
        await sleep(60)
        return `v${version}`
      }
      expect(await cache.getOrSet('swr', loader, { ttl: 0.05, grace: 30 })).toBe('v1')
      await sleep(80) // now stale, within grace
      const during = await Promise.all(
        Array.from({ length: 10 }, () => cache.getOrSet('swr', loader, { ttl: 30, grace: 30 })),
      )
      expect(during).toEqual(Array(10).fill('v1'))
      expect(cache.stats().staleServed).toBeGreaterThanOrEqual(1)
      await sleep(150) // the single refresh landed
      expect(version).toBe(2)
      expect(await cache.getOrSet('swr', loader, { ttl: 30, grace: 30 })).toBe('v2')
      expect(await cache.get('swr')).toBe('v2')
    })

    it('grace: a failing loader serves the stale value (fail-safe)', async () => {
      const cache = make()
      await cache.getOrSet('fs', () => 'old', { ttl: 0.05, grace: 30 })
      await sleep(80)
      // Another caller without grace sees the expired entry as gone, and its failure surfaces.
      const fail = async () => {
        throw new Error('upstream down')
      }
      await expect(cache.getOrSet('fs', fail, { ttl: 0.05 })).rejects.toThrow('upstream down')
      const before = cache.stats().staleServed
      // With grace: the stale value is served and refresh failures are counted, not thrown.
      expect(await cache.getOrSet('fs', fail, { ttl: 0.05, grace: 30 })).toBe('old')
      expect(cache.stats().staleServed).toBe(before + 1)
    })

    it('timeoutMs: a slow loader with a stale value returns stale, then the refresh lands', async () => {
      const cache = make()
      await cache.getOrSet('slow', () => 'old', { ttl: 0.05, grace: 30 })
      await sleep(80)
      const ctxStale: unknown[] = []
      // No grace here, so this is a foreground load; with a stale value at hand it honours timeoutMs.
      const got = await cache.getOrSet(
        'slow',
        async (ctx) => {
          ctxStale.push(ctx.stale)
          await sleep(200)
          return 'new'
        },
        { ttl: 30, grace: 30, timeoutMs: 30 },
      )
      expect(['old', 'new']).toContain(got)
      await sleep(300)
      expect(await cache.get('slow')).toBe('new')
    })
  })
}
