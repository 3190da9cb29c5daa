/**
 * Regressions of issue 9 ("a cache you can trust") that hold in every mode: memory-only, a
 * standalone Valkey and a cluster run the same assertions through `contractSuite`.
 */
import { describe, expect, it } from 'vitest'
import { RateLimiter, type CacheOptions } from '../ts/index'
import { cacheFactory, rejection } from './contract'

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

export function trustSuite(mode: string, base: () => CacheOptions): void {
  const { make } = cacheFactory(`trust-${mode}`, base)

  describe(`trust (${mode})`, () => {
    it('lone surrogates never alias keys: every key-taking method rejects E_INVALID_KEY', async () => {
      const cache = make()
      const lone = ['x\uD800', 'x\uDBFF', '\uDC00y', 'a\uDFFFb']
      for (const k of lone) {
        expect((await rejection(cache.set(k, 'first'))).code).toBe('E_INVALID_KEY')
        expect((await rejection(cache.get(k))).code).toBe('E_INVALID_KEY')
        expect((await rejection(cache.has(k))).code).toBe('E_INVALID_KEY')
        expect((await rejection(cache.delete(k))).code).toBe('E_INVALID_KEY')
        expect((await rejection(cache.getOrSet(k, () => 1))).code).toBe('E_INVALID_KEY')
        expect((await rejection(cache.getMany(['ok', k]))).code).toBe('E_INVALID_KEY')
        expect((await rejection(cache.setMany([{ key: k, value: 1 }]))).code).toBe('E_INVALID_KEY')
        expect((await rejection(cache.deleteMatching(`${k}*`))).code).toBe('E_INVALID_KEY')
        expect((await rejection(cache.set('t', 1, { tags: [k] }))).code).toBe('E_INVALID_OPTION')
        expect((await rejection(cache.invalidateTags([k]))).code).toBe('E_INVALID_OPTION')
        expect(() => cache.namespace(k)).toThrow(expect.objectContaining({ code: 'E_INVALID_OPTION' }))
        expect(() => make({ prefix: k })).toThrow(expect.objectContaining({ code: 'E_INVALID_OPTION' }))
      }
      const limiter = new RateLimiter(cache, { limit: 1, window: 60 })
      expect((await rejection(limiter.limit('x\uD800'))).code).toBe('E_INVALID_KEY')
      expect(() => new RateLimiter(cache, { limit: 1, window: 60, name: 'n\uDC00' })).toThrow(
        expect.objectContaining({ code: 'E_INVALID_OPTION' }),
      )
      // Well-formed pairs are fine and distinct.
      await cache.set('x\uD83D\uDE00', 'smile')
      await cache.set('x\uD83D\uDE01', 'grin')
      expect(await cache.get('x\uD83D\uDE00')).toBe('smile')
      expect(await cache.get('x\uD83D\uDE01')).toBe('grin')
      expect(await cache.get('x')).toBeUndefined()
    })

    it('has() agrees with get() for tag-invalidated entries', async () => {
      const cache = make()
      await cache.set('tagged', 1, { tags: ['t9'] })
      expect(await cache.has('tagged')).toBe(true)
      await cache.invalidateTags(['t9'])
      expect(await cache.get('tagged')).toBeUndefined()
      expect(await cache.has('tagged')).toBe(false)
      // has() is not a read: it moves no hit/miss counter.
      const s0 = cache.stats()
      await cache.set('plain', 2)
      expect(await cache.has('plain')).toBe(true)
      expect(await cache.has('absent')).toBe(false)
      const s1 = cache.stats()
      expect([s1.hits - s0.hits, s1.misses - s0.misses]).toEqual([0, 0])
    })

    it('after close(), L1-held keys and empty batches reject E_CLOSED too', async () => {
      const cache = make({ l1: {} })
      await cache.set('k', 1)
      await cache.get('k')
      await cache.get('k')
      await cache.close()
      const calls: [string, () => Promise<unknown>][] = [
        ['get', () => cache.get('k')],
        ['getOrSet', () => cache.getOrSet('k', () => 2)],
        ['getMany', () => cache.getMany(['k'])],
        ['getMany([])', () => cache.getMany([])],
        ['setMany([])', () => cache.setMany([])],
        ['setMany', () => cache.setMany([{ key: 'k', value: 1 }])],
        ['has', () => cache.has('k')],
        ['delete', () => cache.delete('k')],
        ['set', () => cache.set('k', 2)],
        ['deleteMatching', () => cache.deleteMatching('*')],
        ['clear', () => cache.clear()],
        ['invalidateTags([])', () => cache.invalidateTags([])],
        ['invalidateTags', () => cache.invalidateTags(['t'])],
        ['namespace.get', () => cache.namespace('n').get('k')],
      ]
      for (const [name, call] of calls) {
        expect([name, (await rejection(call())).code]).toEqual([name, 'E_CLOSED'])
      }
    })

    it('getOrSet rejects unstorable loader results with E_SERIALIZE, like set', async () => {
      const cache = make()
      const cyclic: Record<string, unknown> = {}
      cyclic.self = cyclic
      const throwing = {
        get boom(): number {
          throw new Error('getter')
        },
      }
      const proxy = new Proxy(
        {},
        {
          ownKeys() {
            throw new Error('trap')
          },
        },
      )
      const values: unknown[] = [cyclic, { f: () => 1 }, Symbol('s'), throwing, proxy]
      for (const v of values) {
        const s = (await rejection(cache.set('k', v))).code
        const g = (await rejection(cache.getOrSet(`g${values.indexOf(v)}`, () => v))).code
        expect([s, g]).toEqual(['E_SERIALIZE', 'E_SERIALIZE'])
      }
      const json = make({ serializer: 'json' })
      expect((await rejection(json.set('b', 1n))).code).toBe('E_SERIALIZE')
      expect((await rejection(json.getOrSet('b', () => 1n))).code).toBe('E_SERIALIZE')
      expect(cache.stats().loadErrors).toBe(values.length)
    })

    it('per-call options are validated like the constructor, naming the option', async () => {
      const cache = make()
      const bad: [string, unknown, RegExp][] = [
        ['null', null, /options/],
        ['number', 5, /options/],
        ['string', 'x', /options/],
        ['ttlMs', { ttlMs: 1 }, /ttlMs/],
        ['tll', { tll: 1 }, /tll/],
        ['ttl 1e16', { ttl: 1e16 }, /ttl/],
        ['ttl MAX_VALUE', { ttl: Number.MAX_VALUE }, /ttl/],
        ['ttl -Infinity', { ttl: -Infinity }, /ttl/],
        ['ttl NaN', { ttl: NaN }, /ttl/],
        ['ttl 0', { ttl: 0 }, /ttl/],
        ['ttl string', { ttl: '5' }, /ttl/],
        ['tags', { tags: 'a' }, /tags/],
      ]
      const loader = () => 1
      for (const [name, o, re] of bad) {
        for (const [what, call] of [
          ['set', () => cache.set('k', 1, o as never)],
          ['getOrSet', () => cache.getOrSet('k', loader, o as never)],
          ['setMany', () => cache.setMany([{ key: 'k', value: 1, ...(o as object) }])],
        ] as const) {
          if (what === 'setMany' && (typeof o !== 'object' || o === null)) continue
          const err = await rejection(call())
          expect([name, what, err.code]).toEqual([name, what, 'E_INVALID_OPTION'])
          expect(err.message).toMatch(re)
        }
      }
      const gos: [unknown, RegExp][] = [
        [{ grace: -1 }, /grace/],
        [{ grace: Infinity }, /grace/],
        [{ grace: 1e16 }, /grace/],
        [{ timeoutMs: 0 }, /timeoutMs/],
        [{ lockTtlMs: Infinity }, /lockTtlMs/],
        [{ gracee: 1 }, /gracee/],
      ]
      for (const [o, re] of gos) {
        const err = await rejection(cache.getOrSet('k', loader, o as never))
        expect(err.code).toBe('E_INVALID_OPTION')
        expect(err.message).toMatch(re)
      }
      expect(() => make({ ttl: 1e16 })).toThrow(expect.objectContaining({ code: 'E_INVALID_OPTION' }))
      expect(() => make({ ttl: Number.MAX_VALUE })).toThrow(
        expect.objectContaining({ code: 'E_INVALID_OPTION' }),
      )
      // Nothing above wrote anything.
      expect(await cache.has('k')).toBe(false)
    })

    it('grace: 0 means no grace; ttl: Infinity means no expiry', async () => {
      const cache = make()
      expect(await cache.getOrSet('g0', () => 'v', { ttl: 0.05, grace: 0 })).toBe('v')
      await sleep(80)
      expect(await cache.get('g0')).toBeUndefined()
      await cache.set('forever', 'a', { ttl: Infinity })
      await cache.setMany([{ key: 'forever2', value: 'b', ttl: Infinity }])
      expect(await cache.getOrSet('forever3', () => 'c', { ttl: Infinity })).toBe('c')
      expect(await cache.getOrSet('forever4', () => 'd', { ttl: Infinity, grace: 10 })).toBe('d')
      expect(await cache.getMany(['forever', 'forever2', 'forever3', 'forever4'])).toEqual([
        'a',
        'b',
        'c',
        'd',
      ])
      if (mode !== 'memory') {
        const pttl = await cache._command(cache.prefix + 'forever', ['PTTL', cache.prefix + 'forever'])
        expect(pttl).toBe(-1)
        const p3 = await cache._command(cache.prefix + 'forever3', ['PTTL', cache.prefix + 'forever3'])
        expect(p3).toBe(-1)
      }
      // With tags, no expiry still means "at most tagTtl" (markers expire).
      const tagged = make({ tagTtl: 0.05 })
      await tagged.set('t', 1, { ttl: Infinity, tags: ['x'] })
      await sleep(80)
      expect(await tagged.get('t')).toBeUndefined()
    })

    it('ctx.stale holds the expired value during a background refresh within grace', async () => {
      const cache = make()
      await cache.getOrSet('swr', () => 'v1', { ttl: 0.05, grace: 30 })
      await sleep(80)
      let seen: unknown = 'not called'
      let refreshed!: () => void
      const done = new Promise<void>((r) => (refreshed = r))
      const served = await cache.getOrSet(
        'swr',
        (ctx) => {
          seen = ctx.stale
          refreshed()
          return 'v2'
        },
        { ttl: 30, grace: 30 },
      )
      expect(served).toBe('v1')
      await done
      expect(seen).toBe('v1')
    })

    it('a cold getOrSet counts one miss: hit rate 0.5 after one cold and one warm call', async () => {
      const cache = make()
      expect(await cache.getOrSet('c', () => 1)).toBe(1)
      expect(await cache.getOrSet('c', () => 2)).toBe(1)
      const s = cache.stats()
      expect([s.hits, s.misses, s.hitRate]).toEqual([1, 1, 0.5])
    })
  })
}
