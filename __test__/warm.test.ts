/** cache.warm on a real Valkey and in memory: one load per key, bounded concurrency and memory. */
import { describe, expect, inject, it } from 'vitest'
import { Cache, type CacheOptions, type WarmEntry } from '../ts/index'
import { clusterNodes } from './cluster-nodes'
import { cacheFactory, uniquePrefix } from './contract'

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

function suite(mode: string, base: () => CacheOptions): void {
  const { make, track } = cacheFactory(`warm-${mode}`, base)
  describe(`warm (${mode})`, () => {
    it('10,000 entries from an async generator at concurrency 16: all present, one load each, bounded', async () => {
      const cache = make()
      const calls = new Map<string, number>()
      let produced = 0
      let finished = 0
      let inFlight = 0
      let maxInFlight = 0
      let maxAhead = 0
      async function* rows(): AsyncGenerator<WarmEntry> {
        for (let i = 0; i < 10_000; i++) {
          produced++
          maxAhead = Math.max(maxAhead, produced - finished)
          yield {
            key: `row:${i}`,
            ttl: 60,
            loader: async () => {
              calls.set(`row:${i}`, (calls.get(`row:${i}`) ?? 0) + 1)
              maxInFlight = Math.max(maxInFlight, ++inFlight)
              await sleep(1)
              inFlight--
              return { i }
            },
          }
        }
      }
      const progress: number[] = []
      const report = await cache.warm(rows(), {
        concurrency: 16,
        onProgress: (p) => {
          finished = p.done
          progress.push(p.done)
          expect(p.done).toBe(p.loaded + p.skipped + p.failed)
        },
      })
      expect(report).toEqual({ loaded: 10_000, skipped: 0, failed: [] })
      expect(calls.size).toBe(10_000)
      expect([...calls.values()].every((n) => n === 1)).toBe(true)
      expect(maxInFlight).toBeLessThanOrEqual(16)
      expect(maxInFlight).toBeGreaterThan(1)
      // Bounded memory: the source is pulled only when a slot is free.
      expect(maxAhead).toBeLessThanOrEqual(17)
      expect(progress).toHaveLength(10_000)
      expect(progress[progress.length - 1]).toBe(10_000)
      const sample = await cache.getMany(['row:0', 'row:4999', 'row:9999'])
      expect(sample).toEqual([{ i: 0 }, { i: 4999 }, { i: 9999 }])
      // Again: everything is present, so everything is skipped.
      const again = await cache.warm(rows(), { concurrency: 16 })
      expect(again).toEqual({ loaded: 0, skipped: 10_000, failed: [] })
      expect([...calls.values()].every((n) => n === 1)).toBe(true)
    }, 60_000)

    it('a warm racing 100 concurrent getOrSet calls (and a second cache warming) loads each key once', async () => {
      const prefix = uniquePrefix(`warm-race-${mode}`)
      const a = make({ prefix })
      // A second instance = another process as far as single-flight goes (only the lease is shared).
      const b = mode === 'memory' ? a : track(new Cache({ ...base(), prefix }))
      const calls = new Map<string, number>()
      const loader = (key: string) => async () => {
        calls.set(key, (calls.get(key) ?? 0) + 1)
        await sleep(20)
        return key.toUpperCase()
      }
      const entries = Array.from({ length: 50 }, (_, i) => ({ key: `k${i}`, loader: loader(`k${i}`) }))
      const live = Array.from({ length: 100 }, (_, i) => a.getOrSet(`k${i % 50}`, loader(`k${i % 50}`)))
      const [r1, r2, values] = await Promise.all([
        a.warm(entries, { concurrency: 8 }),
        b.warm(entries, { concurrency: 8 }),
        Promise.all(live),
      ])
      expect([...calls.values()].every((n) => n === 1)).toBe(true)
      expect(calls.size).toBe(50)
      expect(values).toEqual(Array.from({ length: 100 }, (_, i) => `K${i % 50}`))
      expect(r1.failed).toEqual([])
      expect(r2.failed).toEqual([])
      expect(r1.loaded + r2.loaded).toBeLessThanOrEqual(50)
    }, 30_000)

    it('collects loader errors, skips present keys unless force, and accepts sync iterables', async () => {
      const cache = make()
      await cache.set('present', 'old')
      const boom = new Error('row 3 is broken')
      const entries: WarmEntry[] = [
        { key: 'present', loader: () => 'new' },
        { key: 'ok', loader: () => 1, tags: ['t'] },
        {
          key: 'bad',
          loader: () => {
            throw boom
          },
        },
        { key: '', loader: () => 1 },
      ]
      const report = await cache.warm(new Set(entries))
      expect(report.loaded).toBe(1)
      expect(report.skipped).toBe(1)
      expect(report.failed.map((f) => f.key).sort()).toEqual(['', 'bad'])
      expect(report.failed.find((f) => f.key === 'bad')?.error).toBe(boom)
      expect(report.failed.find((f) => f.key === '')?.error).toMatchObject({ code: 'E_INVALID_KEY' })
      expect(await cache.get('present')).toBe('old')
      const forced = await cache.warm([{ key: 'present', loader: () => 'new' }], { force: true })
      expect(forced).toEqual({ loaded: 1, skipped: 0, failed: [] })
      expect(await cache.get('present')).toBe('new')
      await cache.invalidateTags(['t'])
      expect(await cache.get('ok')).toBeUndefined()
      await expect(cache.warm([], { concurrency: 0 })).rejects.toMatchObject({ code: 'E_INVALID_OPTION' })
      await expect(cache.warm(42 as never)).rejects.toMatchObject({ code: 'E_INVALID_OPTION' })
    })
  })
}

suite('valkey', () => ({ url: inject('valkeyUrl') }))
suite('memory', () => ({}))

suite('cluster', () => ({ nodes: clusterNodes() }))
