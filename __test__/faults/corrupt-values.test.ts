/**
 * Foreign and corrupt values of every shape, written raw into Valkey: random bytes, every
 * truncation, every single-bit flip (header, flags, checksum, payload), future versions, wrong
 * key types, huge values. A read is a miss or exactly the value written, never a different value;
 * `has` agrees with `get`; `getMany` with `get`; `getOrSet` replaces what it cannot read.
 */
import { afterAll, describe, expect, inject, it } from 'vitest'
import { isDeepStrictEqual } from 'node:util'
import { Cache } from '../../ts/index'
import { valkeyCommand, valkeyPipeline } from '../../scripts/valkey.mjs'
import { uniquePrefix } from '../contract'
import { Calls, noUnhandled } from './track'

noUnhandled()
const open: Cache[] = []
afterAll(async () => {
  await Promise.all(open.map((c) => c.close()))
})

/** The stored bytes, exactly (the harness decodes bulk strings as UTF-8, so ask for hex). */
async function rawGet(url: string, key: string): Promise<Buffer> {
  const hex = `local v = redis.call('GET', KEYS[1]); return (v:gsub('.', function(c) return string.format('%02x', string.byte(c)) end))`
  const buf = Buffer.from(String(await valkeyCommand(url, 'EVAL', hex, '1', key)), 'hex')
  expect(buf.subarray(0, 2).toString('hex')).toBe('feca') // our magic: the bytes are the real ones
  return buf
}

/** Deterministic bytes (xorshift), so a failure can be replayed. */
function prng(seed: number): () => number {
  let x = seed >>> 0 || 1
  return () => {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    return (x >>> 0) / 0x1_0000_0000
  }
}

const ORIGINALS: [string, unknown, { ttl?: number; tags?: string[] }?][] = [
  ['number', 1234567890],
  ['string', 'héllo wörld'],
  ['object', { a: 1, when: new Date(5), m: new Map([[1, 'x']]), b: 10n }],
  ['compressed', 'abc'.repeat(2000)],
  ['tagged', { t: true }, { tags: ['t1'] }],
]

/** Every variant of `bytes` a fault could produce. */
function variants(bytes: Buffer): Buffer[] {
  const out: Buffer[] = []
  for (let len = 0; len < bytes.length; len++) out.push(bytes.subarray(0, len)) // truncations
  const flipBytes = Math.min(bytes.length, 48) // header, flags, checksum, metadata, start of payload
  for (let i = 0; i < flipBytes; i++) {
    for (let bit = 0; bit < 8; bit++) {
      const v = Buffer.from(bytes)
      v[i] ^= 1 << bit
      out.push(v)
    }
  }
  const last = Buffer.from(bytes)
  last[last.length - 1] ^= 0x01
  out.push(last)
  for (const version of [0, 2, 3, 99, 255]) {
    const v = Buffer.from(bytes)
    v[2] = version
    out.push(v)
  }
  out.push(Buffer.concat([bytes, Buffer.from([0])])) // trailing garbage
  return out
}

describe('corrupt values written raw into Valkey', () => {
  it('every variant of every stored shape reads as a miss or the exact value, never another value', async () => {
    const url = inject('valkeyUrl')
    const prefix = uniquePrefix('corrupt')
    const cache = new Cache({ url, prefix })
    open.push(cache)
    const calls = new Calls()
    for (const [name, value, opts] of ORIGINALS) {
      await cache.set(name, value, opts)
      const raw = await rawGet(url, `${prefix}${name}`)
      const vs = variants(raw)
      const keys = vs.map((_, i) => `${name}:v${i}`)
      await valkeyPipeline(
        url,
        vs.map((v, i) => ['SET', `${prefix}${keys[i]}`, v]),
      )
      const many = await cache.getMany(keys)
      for (let i = 0; i < keys.length; i++) {
        const got = await cache.get(keys[i])
        const what = `${name} variant ${i} (${vs[i].toString('hex').slice(0, 48)}…)`
        expect(got === undefined || isDeepStrictEqual(got, value), `${what} read as ${String(got)}`).toBe(
          true,
        )
        expect(isDeepStrictEqual(many[i], got), `${what}: getMany agrees with get`).toBe(true)
        expect.soft(await cache.has(keys[i]), `${what}: has agrees with get (#5)`).toBe(got !== undefined)
      }
      for (const k of keys.slice(0, 40)) {
        void calls.track('getOrSet', () =>
          cache
            .getOrSet(k, () => 'fresh')
            .then((v) => {
              expect(v === 'fresh' || isDeepStrictEqual(v, value)).toBe(true)
            }),
        )
      }
    }
    await calls.settled(10_000)
    calls.expectTypedErrors()
    expect(calls.errors).toEqual([])
  }, 120_000)

  it('random bytes, with and without our magic, and huge foreign values are misses plus counted errors', async () => {
    const url = inject('valkeyUrl')
    const prefix = uniquePrefix('random')
    const cache = new Cache({ url, prefix, maxValueBytes: 1 << 20 })
    open.push(cache)
    const rand = prng(0x5eed)
    const values: Buffer[] = []
    for (let i = 0; i < 300; i++) {
      const v = Buffer.alloc(Math.floor(rand() * 64))
      for (let j = 0; j < v.length; j++) v[j] = Math.floor(rand() * 256)
      if (i % 3 === 0 && v.length >= 3) v.set([0xfe, 0xca, 1]) // looks like ours
      values.push(v)
    }
    values.push(Buffer.alloc(0))
    values.push(Buffer.concat([Buffer.from([0xfe, 0xca, 1, 1]), Buffer.alloc(3 << 20, 7)])) // huge, ours-looking
    values.push(Buffer.alloc(3 << 20, 'x')) // huge, foreign
    await valkeyPipeline(
      url,
      values.map((v, i) => ['SET', `${prefix}r${i}`, v]),
    )
    const keys = values.map((_, i) => `r${i}`)
    const before = cache.stats().errors
    const got = await cache.getMany(keys)
    for (let i = 0; i < keys.length; i++) {
      // Random bytes may only ever decode if they happen to be a valid envelope: with a checksum
      // that covers everything, that does not happen here.
      expect(got[i], `random value ${i}: ${values[i].toString('hex').slice(0, 40)}`).toBeUndefined()
      expect(await cache.get(keys[i])).toBeUndefined()
      expect.soft(await cache.has(keys[i]), 'has agrees with get (#5)').toBe(false)
    }
    expect(cache.stats().errors - before).toBeGreaterThanOrEqual(keys.length - 1) // the empty one may be a plain miss
  }, 60_000)

  it('keys of the wrong type (list, hash, set, zset, stream) are misses with a counted error, alone or batched', async () => {
    const url = inject('valkeyUrl')
    const prefix = uniquePrefix('types')
    const cache = new Cache({ url, prefix })
    open.push(cache)
    await valkeyPipeline(url, [
      ['RPUSH', `${prefix}list`, 'x'],
      ['HSET', `${prefix}hash`, 'f', 'v'],
      ['SADD', `${prefix}set`, 'm'],
      ['ZADD', `${prefix}zset`, '1', 'm'],
      ['XADD', `${prefix}stream`, '*', 'f', 'v'],
    ])
    const keys = ['list', 'hash', 'set', 'zset', 'stream']
    let before = cache.stats().errors
    for (const k of keys) {
      expect(await cache.get(k)).toBeUndefined()
      expect.soft(await cache.has(k), 'has agrees with get (#5)').toBe(false)
    }
    expect(cache.stats().errors - before).toBeGreaterThanOrEqual(keys.length)
    before = cache.stats().errors
    expect(await cache.getMany(keys)).toEqual(keys.map(() => undefined))
    expect.soft(cache.stats().errors - before, 'batched reads count errors too (#19)').toBe(keys.length)
    // getOrSet loads and overwrites; set replaces the foreign key.
    expect(await cache.getOrSet('list', () => 'loaded')).toBe('loaded')
    await cache.set('hash', 'mine')
    expect(await cache.get('hash')).toBe('mine')
  })
})
