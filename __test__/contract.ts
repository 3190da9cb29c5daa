/**
 * The contract every mode must honour. Each mode's test file calls `contractSuite` with a factory;
 * the same assertions run against memory-only mode and a real Valkey.
 */
import { afterAll, describe, expect, it } from 'vitest'
import { Cache, CacheError, type CacheOptions } from '../ts/index'

let seq = 0
/** A prefix no other test uses, so tests can share one server. */
export function uniquePrefix(tag: string): string {
  return `t${process.pid}:${tag}:${++seq}:`
}

export async function rejection(p: Promise<unknown>): Promise<CacheError> {
  try {
    await p
  } catch (e) {
    expect(e).toBeInstanceOf(CacheError)
    return e as CacheError
  }
  throw new Error('expected the promise to reject')
}

/**
 * Caches for one suite: `make` opens one under a fresh prefix, `track` adopts one made by hand;
 * all are closed after the suite.
 */
export function cacheFactory(
  tag: string,
  base: () => CacheOptions,
): { make: (extra?: CacheOptions) => Cache; track: (c: Cache) => Cache } {
  const open: Cache[] = []
  afterAll(async () => {
    await Promise.all(open.map((c) => c.close()))
  })
  const track = (c: Cache): Cache => {
    open.push(c)
    return c
  }
  return { make: (extra = {}) => track(new Cache({ ...base(), prefix: uniquePrefix(tag), ...extra })), track }
}

export function contractSuite(mode: string, base: () => CacheOptions): void {
  const { make } = cacheFactory(mode, base)

  describe(`contract (${mode})`, () => {
    it('round-trips structured values exactly', async () => {
      const cache = make()
      const value = {
        when: new Date('2024-02-29T12:34:56.789Z'),
        invalid: new Date(NaN),
        map: new Map<unknown, unknown>([
          ['a', 1],
          [2, { deep: new Set([1, 'two']) }],
        ]),
        set: new Set(['x', 'y']),
        big: 12345678901234567890n,
        missing: undefined,
        bytes: new Uint8Array([0, 1, 255]),
        buf: Buffer.from('héllo'),
        nan: NaN,
        inf: Infinity,
        ninf: -Infinity,
        nested: [[1, [2, [3, null]]], { a: { b: { c: 'ü🎉' } } }],
      }
      await cache.set('v', value)
      const got = await cache.get<typeof value>('v')
      expect(got).toEqual(value)
      expect(got!.when).toBeInstanceOf(Date)
      expect(got!.map.get(2)).toEqual({ deep: new Set([1, 'two']) })
      expect(typeof got!.big).toBe('bigint')
      expect('missing' in got!).toBe(true)
      expect(Buffer.isBuffer(got!.buf)).toBe(true)
      expect(got!.bytes).toBeInstanceOf(Uint8Array)
      expect(Number.isNaN(got!.nan)).toBe(true)
    })

    it('stores null, primitives and plain JSON; misses resolve undefined', async () => {
      const cache = make()
      await cache.setMany([
        { key: 'null', value: null },
        { key: 'zero', value: 0 },
        { key: 'str', value: '' },
        { key: 'false', value: false },
        { key: 'obj', value: { a: [1, 2, { b: 'c' }] } },
      ])
      expect(await cache.getMany(['null', 'zero', 'str', 'false', 'obj', 'nope'])).toEqual([
        null,
        0,
        '',
        false,
        { a: [1, 2, { b: 'c' }] },
        undefined,
      ])
      expect(await cache.get('nope')).toBeUndefined()
    })

    it('rejects bad input with typed errors', async () => {
      const cache = make({ maxValueBytes: 1000 })
      expect((await rejection(cache.set('k', undefined))).code).toBe('E_INVALID_VALUE')
      expect((await rejection(cache.get(''))).code).toBe('E_INVALID_KEY')
      expect((await rejection(cache.get(42 as unknown as string))).code).toBe('E_INVALID_KEY')
      expect((await rejection(cache.get('x'.repeat(5000)))).code).toBe('E_INVALID_KEY')
      const cyclic: Record<string, unknown> = { a: 1 }
      cyclic.self = cyclic
      const err = await rejection(cache.set('k', cyclic))
      expect(err.code).toBe('E_SERIALIZE')
      expect(err.message).toMatch(/self/)
      expect((await rejection(cache.set('k', { f: () => 1 }))).code).toBe('E_SERIALIZE')
      expect((await rejection(cache.set('k', 'x'.repeat(5000)))).code).toBe('E_VALUE_TOO_LARGE')
      expect((await rejection(cache.set('k', 1, { ttl: -1 }))).code).toBe('E_INVALID_OPTION')
      expect(() => new Cache({ ...base(), ttl: 0 })).toThrow(
        expect.objectContaining({ code: 'E_INVALID_OPTION' }),
      )
      expect(() => new Cache({ ...base(), poolSize: 0 })).toThrow(
        expect.objectContaining({ code: 'E_INVALID_OPTION' }),
      )
      expect(() => new Cache({ ...base(), tll: 5 } as CacheOptions)).toThrow(/not a Cache option/)
      // Nothing was written by the failed calls.
      expect(await cache.has('k')).toBe(false)
    })

    it('setMany validates every entry before writing any', async () => {
      const cache = make()
      const err = await rejection(
        cache.setMany([
          { key: 'ok', value: 1 },
          { key: 'bad', value: undefined },
        ]),
      )
      expect(err.code).toBe('E_INVALID_VALUE')
      expect(await cache.has('ok')).toBe(false)
    })

    it('expires entries after their ttl', async () => {
      const cache = make()
      // A ttl long enough to read back on a loaded machine, short enough to wait out.
      await cache.set('short', 'v', { ttl: 1 })
      await cache.set('long', 'v', { ttl: 60 })
      expect(await cache.get('short')).toBe('v')
      await new Promise((r) => setTimeout(r, 1300))
      expect(await cache.get('short')).toBeUndefined()
      expect(await cache.get('long')).toBe('v')
    })

    it('delete and has report existence', async () => {
      const cache = make()
      await cache.set('k', 1)
      expect(await cache.has('k')).toBe(true)
      expect(await cache.delete('k')).toBe(true)
      expect(await cache.delete('k')).toBe(false)
      expect(await cache.has('k')).toBe(false)
    })

    it('keeps 2000 concurrent requests matched to their keys', async () => {
      const cache = make()
      const keys = Array.from({ length: 2000 }, (_, i) => `k${i}`)
      await Promise.all(keys.map((k, i) => cache.set(k, { i, k })))
      const got = await Promise.all(keys.map((k) => cache.get<{ i: number; k: string }>(k)))
      got.forEach((v, i) => expect(v).toEqual({ i, k: keys[i] }))
      const many = await cache.getMany(keys.slice(0, 100))
      expect(many.map((v) => (v as { i: number }).i)).toEqual([...Array(100).keys()])
    })

    it('many getMany calls in one tick (each one request, one result) stay matched to their keys', async () => {
      const cache = make()
      const keys = Array.from({ length: 300 }, (_, i) => `gm${i}`)
      await cache.setMany(keys.filter((_, i) => i % 3 !== 0).map((k, i) => ({ key: k, value: { k, i } })))
      // 30 calls of 10 keys, issued together (one frame), some keys absent, one repeated.
      const calls = Array.from({ length: 30 }, (_, c) => [...keys.slice(c * 10, c * 10 + 10), keys[1]])
      const results = await Promise.all(calls.map((ks) => cache.getMany<{ k: string }>(ks)))
      results.forEach((got, c) => {
        expect(got).toHaveLength(calls[c].length)
        // Dense: every slot is written, misses too (no holes for `every`/`forEach` to skip).
        calls[c].forEach((k, j) => {
          expect(j in got).toBe(true)
          expect(got[j]?.k).toBe(keys.indexOf(k) % 3 === 0 ? undefined : k)
        })
      })
      expect((await cache.getMany(['gm0', 'gm0'])).every((v) => v === undefined)).toBe(true)
      expect(0 in (await cache.getMany(['gm0']))).toBe(true)
    })

    it('namespaces isolate keys; clear and deleteMatching stay inside the prefix', async () => {
      const cache = make({ prefix: uniquePrefix(`${mode}*[glob]?`) })
      const users = cache.namespace('users')
      const posts = cache.namespace('posts')
      await users.set('1', 'ada')
      await posts.set('1', 'hello')
      await cache.set('users:2', 'bob') // same key as users.set('2')
      expect(await users.get('2')).toBe('bob')
      expect(await posts.get('1')).toBe('hello')
      const other = make()
      await other.set('users:1', 'untouched')
      expect(await cache.deleteMatching('users:*')).toBe(2)
      expect(await users.get('1')).toBeUndefined()
      expect(await posts.get('1')).toBe('hello')
      await posts.set('2', 'x')
      await posts.clear()
      expect(await posts.getMany(['1', '2'])).toEqual([undefined, undefined])
      await cache.set('root', 1)
      await cache.clear()
      expect(await cache.get('root')).toBeUndefined()
      expect(await other.get('users:1')).toBe('untouched')
    })

    it('compresses large values and reads them back', async () => {
      const cache = make()
      const rows = Array.from({ length: 500 }, (_, i) => ({
        id: i,
        name: `row ${i}`,
        tags: ['a', 'b'],
        ok: true,
      }))
      const before = cache.stats()
      await cache.set('big', rows)
      expect(await cache.get('big')).toEqual(rows)
      const after = cache.stats()
      expect(after.compressedWrites - before.compressedWrites).toBe(1)
      expect(after.bytesWritten - before.bytesWritten).toBeLessThan(JSON.stringify(rows).length / 3)
      const raw = make({ compression: false })
      await raw.set('big', rows)
      expect(raw.stats().compressedWrites).toBe(0)
      expect(raw.stats().bytesWritten).toBeGreaterThan(JSON.stringify(rows).length)
      expect(await raw.get('big')).toEqual(rows)
    })

    it('round-trips a 2 MB value', async () => {
      const cache = make()
      const big = 'x'.repeat(1024) + 'é'.repeat(1_000_000)
      await cache.set('huge', big)
      expect(await cache.get('huge')).toBe(big)
    })

    it('counts hits, misses and sets exactly', async () => {
      const cache = make()
      const s0 = cache.stats()
      await cache.set('a', 1)
      await cache.get('a')
      await cache.get('a')
      await cache.get('missing')
      const s = cache.stats()
      expect(s.sets - s0.sets).toBe(1)
      expect(s.hits - s0.hits).toBe(2)
      expect(s.misses - s0.misses).toBe(1)
      expect(s.hitRate).toBeGreaterThan(0)
    })

    it('json serializer gives plain JSON semantics; custom serializers are used', async () => {
      const json = make({ serializer: 'json' })
      await json.set('d', { at: new Date('2020-01-01T00:00:00.000Z') })
      expect(await json.get('d')).toEqual({ at: '2020-01-01T00:00:00.000Z' })
      const custom = make({
        serializer: {
          serialize: (v) => `<${String(v)}>`,
          deserialize: (b) => Buffer.from(b).toString('utf8').slice(1, -1),
        },
      })
      await custom.set('c', 'abc')
      expect(await custom.get('c')).toBe('abc')
    })

    it('reports health and metrics', async () => {
      const cache = make()
      const h = await cache.health()
      expect(h.ok).toBe(true)
      expect(h.mode).toBe(mode === 'memory' || mode === 'cluster' ? mode : 'standalone')
      expect(h.latencyMs).toBeGreaterThanOrEqual(0)
      const text = await cache.metrics()
      expect(text).toMatch(/^# TYPE ferrocache_hits_total counter$/m)
      expect(text).toMatch(/^ferrocache_up\{cache="[^"]+",prefix="[^"]+"\} 1$/m)
    })

    it('rejects every call after close with E_CLOSED', async () => {
      const cache = make()
      await cache.set('k', 1)
      const inflight = cache.get('k')
      await cache.close()
      expect(await inflight).toBe(1)
      await cache.close() // idempotent
      expect((await rejection(cache.get('k'))).code).toBe('E_CLOSED')
      expect((await rejection(cache.set('k', 1))).code).toBe('E_CLOSED')
      expect((await rejection(cache.clear())).code).toBe('E_CLOSED')
      expect((await cache.health()).ok).toBe(false)
    })
  })
}
