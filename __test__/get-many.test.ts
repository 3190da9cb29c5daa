/**
 * `getMany` against a real Valkey, in particular its joined decode (`src/boundary/joined.rs`,
 * `ts/boundary/many.ts`): the plain JSON values of one call are parsed by one `JSON.parse`, and the
 * results are exactly what `get` gives for each key — values revived by the codec, values written
 * by other clients that are not JSON, values that try to look like the separator, compressed ones.
 */
import { afterEach, describe, expect, inject, it, vi } from 'vitest'
import { isDeepStrictEqual } from 'node:util'
import { crc32 } from 'node:zlib'
import superjson from 'superjson'
import type { CacheOptions, Serializer } from '../ts/index'
import { valkeyPipeline } from '../scripts/valkey.mjs'
import { cacheFactory } from './contract'
import { until } from './faults/track'

const url = (): string => inject('valkeyUrl')
const { make } = cacheFactory('getmany', () => ({ url: url() }))

afterEach(() => {
  vi.restoreAllMocks()
})

/** A bus message (`ts/features/bus.ts`: `["k", key…]`, `["t"]`, `["m", glob]`), which an L1 cache may
 * parse while `fn` runs (another write's invalidation arriving): not a parse of a read value. */
const BUS_MESSAGE = /^\["[ktm]"[,\]]/

/** Calls of `JSON.parse` made by `fn` on read values (the built-in codecs parse through the global). */
async function parses<T>(fn: () => Promise<T>): Promise<{ result: T; calls: number }> {
  const spy = vi.spyOn(JSON, 'parse')
  try {
    const result = await fn()
    const calls = spy.mock.calls.filter(([text]) => !(typeof text === 'string' && BUS_MESSAGE.test(text)))
    return { result, calls: calls.length }
  } finally {
    spy.mockRestore()
  }
}

/** A stored value as this cache writes it (format 2, no ttl fields): magic, version, codec, crc32. */
function envelope(codec: number, body: string | Buffer): Buffer {
  const b = Buffer.concat([Buffer.from([0xfe, 0xca, 2, codec, 0, 0, 0, 0]), Buffer.from(body)])
  b.writeUInt32LE(crc32(Buffer.concat([b.subarray(0, 4), b.subarray(8)])), 4)
  return b
}

/** Writes raw values under the cache's prefix, as another client would. */
async function rawSet(prefix: string, entries: [string, string | Buffer][]): Promise<void> {
  await valkeyPipeline(
    url(),
    entries.map(([k, v]) => ['SET', `${prefix}${k}`, v]),
  )
}

type Made = ReturnType<typeof make>

/** `getMany(keys)` equals `get` of every key, value for value, and counts the same errors. */
async function expectSameAsGet(cache: Made, keys: string[]): Promise<unknown[]> {
  let errors = cache.stats().errors
  const many = await cache.getMany(keys)
  const manyErrors = cache.stats().errors - errors
  errors = cache.stats().errors
  const one = await Promise.all(keys.map((k) => cache.get(k)))
  expect(many).toHaveLength(keys.length)
  keys.forEach((k, i) => {
    expect(
      isDeepStrictEqual(many[i], one[i]),
      `${k}: getMany ${String(many[i])}, get ${String(one[i])}`,
    ).toBe(true)
  })
  expect(manyErrors, 'getMany counts the errors get counts').toBe(cache.stats().errors - errors)
  return many
}

/** A custom serializer (codec CUSTOM, parsed by superjson): never joined. */
const superjsonCodec: Serializer = {
  serialize: (v) => superjson.stringify(v),
  deserialize: (b) => superjson.parse(Buffer.from(b).toString('utf8')),
}

const hex32 = (): string =>
  Array.from({ length: 32 }, () => '0123456789abcdef'[(Math.random() * 16) | 0]).join('')

describe('getMany (valkey)', () => {
  it('returns hits and misses in key order, parsing the JSON values of the call once', async () => {
    const cache = make()
    await cache.setMany([
      { key: 'a', value: { a: 1 } },
      { key: 'c', value: 'see' },
      { key: 'e', value: [1, 2, 3] },
      { key: 'f', value: null },
      { key: 'g', value: 0 },
    ])
    const keys = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'a', 'zz']
    const { result, calls } = await parses(() => cache.getMany(keys))
    expect(result).toEqual([{ a: 1 }, undefined, 'see', undefined, [1, 2, 3], null, 0, { a: 1 }, undefined])
    expect(Object.keys(result)).toHaveLength(keys.length) // dense, misses included
    expect(calls, 'one JSON.parse for the whole call').toBe(1)
    await expectSameAsGet(cache, keys)
    expect(await cache.getMany(['b', 'd'])).toEqual([undefined, undefined])
  })

  it('values the codec revives (Dates, Maps, BigInt, undefined, -0) come out as get gives them', async () => {
    const when = new Date('2024-02-29T12:34:56.789Z')
    const values: [string, unknown][] = [
      ['date', when],
      ['nested', { when, list: [new Date(0), 'x'], m: new Map([[1, { d: when }]]) }],
      ['big', { big: 10n }], // the json codec refuses it: a miss there
      ['undef', { a: undefined, b: [undefined, 1] }],
      ['special', [NaN, -0, Infinity]],
      ['plain', { iso: when.toISOString(), n: 1.5 }],
      ['plain2', ['json', true, null]],
      ['bytes', Buffer.from('hi')],
    ]
    const keys = [...values.map(([k]) => k), 'absent']
    for (const serializer of ['structured', 'json', superjsonCodec] as CacheOptions['serializer'][]) {
      for (const l1 of [false, {}] as const) {
        const cache = make({ serializer, l1 })
        const storable = values.filter(([k]) => serializer !== 'json' || k !== 'big')
        await cache.setMany(storable.map(([key, value]) => ({ key, value })))
        const first = await parses(() => cache.getMany(keys))
        // The JSON values (all of them with 'json', the plain ones with 'structured') in one go.
        if (serializer !== superjsonCodec) expect(first.calls).toBe(1)
        // With the L1 on, a getMany fills it: every stored key is an L1 hit below, for getMany and
        // for get (superjson's Buffer aside: the L1 never keeps it, however read). The echo of
        // setMany's own invalidation may arrive while a getMany is in flight and rightly void its
        // fill, so the fill is awaited first.
        const kept = serializer === superjsonCodec ? storable.length - 1 : storable.length
        if (l1 !== false)
          await until(async () => {
            const before = cache.stats().l1Hits
            await cache.getMany(keys)
            return cache.stats().l1Hits - before === kept
          })
        const l1Hits = cache.stats().l1Hits
        const many = await expectSameAsGet(cache, keys)
        expect(cache.stats().l1Hits - l1Hits).toBe(l1 === false ? 0 : 2 * kept)
        expect(many).toStrictEqual(first.result)
        if (serializer === 'structured') {
          expect(many[0]).toEqual(when)
          expect(many[1]).toStrictEqual(values[1][1])
          expect(many[2]).toStrictEqual(values[2][1])
          expect(many[5]).toStrictEqual(values[5][1])
        }
        if (serializer === 'json') expect([many[0], many[2]]).toEqual([when.toISOString(), undefined])
        if (serializer === superjsonCodec) expect(many[2]).toStrictEqual({ big: 10n })
      }
    }
  })

  it('L1 entries a joined getMany fills expire with their entry', async () => {
    const cache = make({ l1: {} })
    await cache.setMany([
      { key: 'short1', value: 'aaaaaaaaaaaa', ttl: 1 },
      { key: 'short2', value: 'bbbbbbbbbbbb', ttl: 1 },
      { key: 'long', value: 'cccccccccccc' },
    ])
    const keys = ['short1', 'short2', 'long']
    expect(await cache.getMany(keys)).toEqual(['aaaaaaaaaaaa', 'bbbbbbbbbbbb', 'cccccccccccc'])
    // The fill may be voided by setMany's own invalidation echoing back mid-read: await it.
    await until(async () => {
      const before = cache.stats().l1Hits
      await cache.getMany(keys)
      return cache.stats().l1Hits - before === keys.length
    })
    await new Promise((r) => setTimeout(r, 1200))
    const l1Hits = cache.stats().l1Hits
    expect(await cache.getMany(keys)).toEqual([undefined, undefined, 'cccccccccccc'])
    expect(cache.stats().l1Hits - l1Hits).toBe(1)
  })

  it('a codec without plain JSON parsing decodes JSON values one by one, as get does', async () => {
    const writer = make()
    const reader = make({ prefix: writer.prefix, serializer: superjsonCodec })
    await writer.setMany([
      { key: 'j1', value: { a: 1 } },
      { key: 'j2', value: [2] },
    ])
    await reader.set('s1', { when: new Date(1) })
    // superjson cannot decode what the default codec wrote as JSON: misses with a counted error.
    expect(await expectSameAsGet(reader, ['j1', 's1', 'j2'])).toEqual([
      undefined,
      { when: new Date(1) },
      undefined,
    ])
  })

  it('values written raw that are not JSON read as get reads them; the others are right', async () => {
    const cache = make()
    const prefix = cache.prefix
    await cache.setMany([
      { key: 'ok1', value: { ok: 1 } },
      { key: 'ok2', value: 'two' },
      { key: 'ok3', value: [3] },
    ])
    await rawSet(prefix, [
      ['sane', envelope(1, '{"sane":true}')], // the test's envelope is the real one
      ['foreign', '{"plain":"json"}'], // no envelope: a foreign value
      ['open', envelope(1, '{"open":')], // not JSON, and does not end like JSON
      ['looks', envelope(1, '{"a":1} {"b":2}')], // starts and ends like JSON, is not
      ['extra', envelope(1, '1,2')], // one slot more in a joined text
      ['v8junk', envelope(2, Buffer.from([1, 2, 3]))],
      ['binary', envelope(1, Buffer.from([0x22, 0xff, 0xfe, 0x22]))], // a string of invalid UTF-8
    ])
    await valkeyPipeline(url(), [['RPUSH', `${prefix}list`, 'x']])
    const keys = [
      'ok1',
      'sane',
      'foreign',
      'open',
      'ok2',
      'looks',
      'extra',
      'v8junk',
      'list',
      'binary',
      'ok3',
    ]
    const { result: many } = await parses(() => expectSameAsGet(cache, keys))
    expect(many).toEqual([
      { ok: 1 },
      { sane: true },
      undefined,
      undefined,
      'two',
      undefined,
      undefined,
      undefined,
      undefined,
      '\ufffd\ufffd',
      [3],
    ])
    // Only the broken ones: the same call without them is parsed in one go.
    const good = ['ok1', 'sane', 'ok2', 'binary', 'ok3']
    const { result, calls } = await parses(() => cache.getMany(good))
    expect(result).toEqual([{ ok: 1 }, { sane: true }, 'two', '\ufffd\ufffd', [3]])
    expect(calls).toBe(1)
  })

  it('values that look like the separator never shift or change the others', async () => {
    const cache = make()
    const prefix = cache.prefix
    const fake = hex32()
    // Legitimate strings holding separator-like text: JSON escapes their quotes.
    const tricky = [`","${fake}","`, `"${fake}"`, `,"${fake}",`, '\\', '"]']
    await cache.setMany(tricky.map((value, i) => ({ key: `t${i}`, value })))
    await cache.set('real', { real: true })
    // Raw values that, joined, keep the slot count right but move the separators: one adds two
    // slots (a separator of its own and a value), two more fold a real separator into an array.
    await rawSet(prefix, [
      ['adds', envelope(1, `1,"${fake}",2`)],
      ['opens', envelope(1, '[0')],
      ['closes', envelope(1, '0]')],
      ['quote', envelope(1, '"a')],
      ['unquote', envelope(1, 'b"')],
    ])
    const keys = ['t0', 'adds', 't1', 'opens', 'closes', 't2', 'real', 'quote', 'unquote', 't3', 't4']
    const many = await expectSameAsGet(cache, keys)
    expect(many).toEqual([
      tricky[0],
      undefined,
      tricky[1],
      undefined,
      undefined,
      tricky[2],
      { real: true },
      undefined,
      undefined,
      tricky[3],
      tricky[4],
    ])
    expect(await cache.getMany(['t0', 't1', 't2', 't3', 't4'])).toEqual(tricky)
    // Two slots fewer, every odd slot left still the nonce: only the slot count gives it away.
    expect(await expectSameAsGet(cache, ['opens', 'closes', 'real'])).toEqual([
      undefined,
      undefined,
      { real: true },
    ])
  })

  it('a group of 1000 keys, one in seven missing, matches get key for key', async () => {
    const cache = make()
    const keys = Array.from({ length: 1000 }, (_, i) => `k${i}`)
    await cache.setMany(
      keys
        .filter((_, i) => i % 7 !== 3)
        .map((key, i) => ({ key, value: i % 5 === 0 ? `s${i}` : { i, key, tags: ['a', 'b'], n: i / 3 } })),
    )
    const { result, calls } = await parses(() => cache.getMany(keys))
    expect(calls).toBe(1)
    expect(result.filter((v) => v === undefined)).toHaveLength(keys.filter((_, i) => i % 7 === 3).length)
    await expectSameAsGet(cache, keys)
  })

  it('compressed values mixed with plain ones', async () => {
    const cache = make({ compression: { threshold: 64 } })
    const big = (i: number) => ({ i, text: `row ${i} `.repeat(50) }) // compresses well
    const values: [string, unknown][] = Array.from({ length: 20 }, (_, i) => [
      `c${i}`,
      i % 2 === 0 ? big(i) : { small: i },
    ])
    const before = cache.stats().compressedWrites
    await cache.setMany(values.map(([key, value]) => ({ key, value })))
    expect(cache.stats().compressedWrites - before).toBe(10)
    const keys = values.map(([k]) => k)
    const { result, calls } = await parses(() => cache.getMany(keys))
    expect(result).toEqual(values.map(([, v]) => v))
    expect(calls).toBe(1)
    await expectSameAsGet(cache, keys)
  })

  it('a group too large to join is decoded value by value, with the same results', async () => {
    const cache = make({ maxValueBytes: 4 << 20, compression: false })
    const values = ['a', 'b', 'c'].map((c) => c.repeat(3 << 20)) // 9 MiB: over the joined text's cap
    await cache.setMany(values.map((value, i) => ({ key: `big${i}`, value })))
    const keys = ['big0', 'big1', 'missing', 'big2']
    const { result, calls } = await parses(() => cache.getMany(keys))
    expect(result).toEqual([values[0], values[1], undefined, values[2]])
    expect(calls).toBe(3)
    const small = await parses(() => cache.getMany(['big0', 'big1']))
    expect(small.calls).toBe(1) // 6 MiB: joined
  })
})
