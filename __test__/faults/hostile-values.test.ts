/**
 * Hostile values (#18): size limits are enforced before the expensive work. The tests count the
 * work (property reads through a Proxy or a getter) instead of timing it: a sparse array is walked
 * by its present elements, and a value known to be over maxValueBytes is never serialized.
 */
import { afterAll, describe, expect, inject, it } from 'vitest'
import { Cache, type CacheOptions } from '../../ts/index'
import { rejection, uniquePrefix } from '../contract'
import { noUnhandled } from './track'

noUnhandled()
const open: Cache[] = []
afterAll(async () => {
  await Promise.all(open.map((c) => c.close()))
})
const modes: [string, () => CacheOptions][] = [
  ['memory', () => ({})],
  ['valkey', () => ({ url: inject('valkeyUrl') })],
]

/** An array of length `n` whose element reads are counted (V8 cannot serialize a Proxy: E_SERIALIZE). */
function countingSparse(n: number): { value: unknown[]; reads: () => number } {
  let reads = 0
  const target: unknown[] = []
  target[n - 1] = 1
  const value = new Proxy(target, {
    get(t, p, r) {
      if (typeof p === 'string' && /^\d+$/.test(p)) reads++
      return Reflect.get(t, p, r)
    },
  })
  return { value, reads: () => reads }
}

describe.each(modes)('hostile values (%s)', (_mode, base) => {
  const make = (extra: CacheOptions = {}) => {
    const c = new Cache({ ...base(), prefix: uniquePrefix('hostile'), ...extra })
    open.push(c)
    return c
  }

  it('a sparse array is walked by its present elements, and a[1e8] = 1 round-trips', async () => {
    const cache = make()
    const counted = countingSparse(1e6)
    const err = await rejection(cache.set('proxy', counted.value))
    expect(err.code).toBe('E_SERIALIZE') // a Proxy cannot be stored; what matters is the work done
    expect(counted.reads()).toBeLessThan(1000)
    const a: number[] = []
    a[1e8] = 1
    await cache.set('sparse', a)
    const back = (await cache.get('sparse')) as number[]
    expect(back.length).toBe(1e8 + 1)
    expect(back[1e8]).toBe(1)
    expect(Object.keys(back)).toEqual(['100000000'])
  })

  it('values over maxValueBytes reject E_VALUE_TOO_LARGE before they are serialized', async () => {
    const cache = make({ maxValueBytes: 1 << 20 })
    let touched = 0
    const big = { s: 'x'.repeat(2 << 20) }
    Object.defineProperty(big, 'spy', { enumerable: true, get: () => ++touched })
    expect((await rejection(cache.set('obj', big))).code).toBe('E_VALUE_TOO_LARGE')
    expect(touched).toBe(0) // known too large from its string: never stringified
    const many = Array.from({ length: 4 }, () => 'y'.repeat(400_000))
    Object.defineProperty(many, '9', { enumerable: true, get: () => ++touched })
    expect((await rejection(cache.set('arr', many))).code).toBe('E_VALUE_TOO_LARGE')
    expect((await rejection(cache.set('str', 'x'.repeat(2 << 20)))).code).toBe('E_VALUE_TOO_LARGE')
    expect((await rejection(cache.set('buf', Buffer.alloc(2 << 20)))).code).toBe('E_VALUE_TOO_LARGE')
    expect((await rejection(cache.set('map', new Map([['k', 'x'.repeat(2 << 20)]])))).code).toBe(
      'E_VALUE_TOO_LARGE',
    )
    expect((await rejection(cache.setMany([{ key: 'm', value: 'x'.repeat(2 << 20) }]))).code).toBe(
      'E_VALUE_TOO_LARGE',
    )
    expect((await rejection(cache.getOrSet('g', () => 'x'.repeat(2 << 20)))).code).toBe('E_VALUE_TOO_LARGE')
    expect(touched).toBe(0)
    // Just under the limit is stored (the early checks are lower bounds, never stricter than the engine).
    const fits = 'z'.repeat((1 << 20) - 16)
    await cache.set('fits', fits)
    expect(await cache.get('fits')).toBe(fits)
  })

  it('json mode: a huge sparse array is rejected from its length, not stringified', async () => {
    const cache = make({ serializer: 'json', maxValueBytes: 1 << 19 })
    const counted = countingSparse(1e6)
    expect((await rejection(cache.set('proxy', counted.value))).code).toBe('E_VALUE_TOO_LARGE')
    expect(counted.reads()).toBe(0)
  })

  it('a custom serializer output over maxValueBytes is E_VALUE_TOO_LARGE', async () => {
    const cache = make({
      maxValueBytes: 1024,
      serializer: { serialize: () => new Uint8Array(4096), deserialize: () => null },
    })
    expect((await rejection(cache.set('c', 1))).code).toBe('E_VALUE_TOO_LARGE')
  })
})
