/**
 * Every public method × bad inputs, one table, run against memory-only mode and a real Valkey:
 * the same outcome (resolved, or the same `err.code`) in both, never a synchronous throw (methods
 * reject), never a hang, never an untyped rejection.
 */
import { afterAll, describe, expect, inject, it } from 'vitest'
import { Cache, CacheError, RateLimiter, SessionStore, type CacheOptions } from '../../ts/index'
import { uniquePrefix } from '../contract'
import { noUnhandled } from './track'

noUnhandled()
const HANG_MS = 10_000
const open: Cache[] = []
afterAll(async () => {
  await Promise.all(open.map((c) => c.close()))
})

type Ctx = { cache: Cache; limiter: RateLimiter; sessions: SessionStore<unknown> }
/** `ok` = resolves; `E_*` = rejects with that code; `loader` = rejects with the loader's own error. */
type Expected = 'ok' | 'loader' | `E_${string}`
type Case = [method: string, input: string, run: (c: Ctx) => Promise<unknown>, expected: Expected]

const cycle: Record<string, unknown> = {}
cycle.self = cycle
const throwingGetter = Object.defineProperty({}, 'x', {
  enumerable: true,
  get() {
    throw new Error('getter says no')
  },
})
const throwingProxy = new Proxy(
  {},
  {
    ownKeys() {
      throw new Error('trap says no')
    },
  },
)
const sparse: number[] = []
sparse[1e7] = 1
const loaderError = new Error('loader failed')
const BAD_KEYS: [string, unknown][] = [
  ['empty string', ''],
  ['number', 42],
  ['null', null],
  ['undefined', undefined],
  ['object', { k: 1 }],
  ['symbol', Symbol('k')],
  ['huge (1 MB)', 'k'.repeat(1 << 20)],
]
const BAD_VALUES: [string, unknown, Expected][] = [
  ['undefined', undefined, 'E_INVALID_VALUE'],
  ['a function', () => 1, 'E_SERIALIZE'],
  ['a symbol', Symbol('v'), 'E_SERIALIZE'],
  ['a cycle', cycle, 'E_SERIALIZE'],
  ['a WeakMap', new WeakMap(), 'E_SERIALIZE'],
  ['a Promise', Promise.resolve(1), 'E_SERIALIZE'],
  ['a throwing getter', throwingGetter, 'E_SERIALIZE'],
  ['a throwing Proxy', throwingProxy, 'E_SERIALIZE'],
  ['over maxValueBytes', 'x'.repeat(2 << 20), 'E_VALUE_TOO_LARGE'],
  ['a sparse array (fine)', sparse, 'ok'],
  ['-0, NaN, BigInt (fine)', [-0, NaN, 10n], 'ok'],
]
const BAD_SET_OPTIONS: [string, unknown][] = [
  ['null', null],
  ['a number', 5],
  ['a string', 'ttl'],
  ['unknown name ttlMs', { ttlMs: 1 }],
  ['misspelt tll', { tll: 1 }],
  ['negative ttl', { ttl: -1 }],
  ['NaN ttl', { ttl: NaN }],
  ['string ttl', { ttl: '5' }],
  ['ttl 1e16', { ttl: 1e16 }],
  ['ttl Number.MAX_VALUE', { ttl: Number.MAX_VALUE }],
  ['tags not an array', { tags: 'a' }],
  ['tags with a number', { tags: [1] }],
]

const cases: Case[] = []
const add = (method: string, input: string, run: Case[2], expected: Expected) =>
  cases.push([method, input, run, expected])
for (const [what, key] of BAD_KEYS) {
  const k = key as string
  add('get', `key ${what}`, (c) => c.cache.get(k), 'E_INVALID_KEY')
  add('set', `key ${what}`, (c) => c.cache.set(k, 1), 'E_INVALID_KEY')
  add('delete', `key ${what}`, (c) => c.cache.delete(k), 'E_INVALID_KEY')
  add('has', `key ${what}`, (c) => c.cache.has(k), 'E_INVALID_KEY')
  add('getOrSet', `key ${what}`, (c) => c.cache.getOrSet(k, () => 1), 'E_INVALID_KEY')
  add('getMany', `key ${what}`, (c) => c.cache.getMany(['ok', k]), 'E_INVALID_KEY')
  add('setMany', `key ${what}`, (c) => c.cache.setMany([{ key: k, value: 1 }]), 'E_INVALID_KEY')
  if (typeof key !== 'string' || key === '' || key.length > 1000) {
    add('RateLimiter.limit', `id ${what}`, (c) => c.limiter.limit(k), 'E_INVALID_KEY')
    add('SessionStore.get', `id ${what}`, (c) => c.sessions.get(k), 'E_INVALID_KEY')
    add('SessionStore.touch', `id ${what}`, (c) => c.sessions.touch(k), 'E_INVALID_KEY')
    add('SessionStore.destroy', `id ${what}`, (c) => c.sessions.destroy(k), 'E_INVALID_KEY')
    add('SessionStore.set', `id ${what}`, (c) => c.sessions.set(k, 1), 'E_INVALID_KEY')
  }
}
for (const [what, value, expected] of BAD_VALUES) {
  add('set', `value ${what}`, (c) => c.cache.set('v', value), expected)
  add('setMany', `value ${what}`, (c) => c.cache.setMany([{ key: 'v', value }]), expected)
  // A loader's Promise is awaited (async loaders): only set/setMany see it as a value.
  const loaded = value instanceof Promise ? 'ok' : expected
  add('getOrSet', `loader returns ${what}`, (c) => c.cache.getOrSet(`g-${what}`, () => value), loaded)
  if (expected !== 'ok') {
    add('SessionStore.create', `data ${what}`, (c) => c.sessions.create(value), expected)
  }
}
for (const [what, opts] of BAD_SET_OPTIONS) {
  add('set', `options ${what}`, (c) => c.cache.set('o', 1, opts as never), 'E_INVALID_OPTION')
  add(
    'getOrSet',
    `options ${what}`,
    (c) => c.cache.getOrSet('o2', () => 1, opts as never),
    'E_INVALID_OPTION',
  )
  // An entry carries its options inline: only objects (and a string's indexes) add fields to it.
  if (typeof opts === 'object' && opts !== null) {
    add(
      'setMany',
      `entry options ${what}`,
      (c) => c.cache.setMany([{ key: 'o3', value: 1, ...opts }]),
      'E_INVALID_OPTION',
    )
  }
}
add('set', 'ttl Infinity (no expiry)', (c) => c.cache.set('inf', 1, { ttl: Infinity }), 'ok')
add('getOrSet', 'grace 0 (means none)', (c) => c.cache.getOrSet('grace0', () => 1, { grace: 0 }), 'ok')
add(
  'getOrSet',
  'negative grace',
  (c) => c.cache.getOrSet('graceneg', () => 1, { grace: -1 }),
  'E_INVALID_OPTION',
)
add('getOrSet', 'loader not a function', (c) => c.cache.getOrSet('nl', 'x' as never), 'E_INVALID_OPTION')
add('getOrSet', 'loader throws', (c) => c.cache.getOrSet('lt', () => Promise.reject(loaderError)), 'loader')
add(
  'getOrSet',
  'loader throws synchronously',
  (c) =>
    c.cache.getOrSet('lts', () => {
      throw loaderError
    }),
  'loader',
)
add('getMany', 'not an array', (c) => c.cache.getMany('a' as never), 'E_INVALID_KEY')
add('getMany', 'null', (c) => c.cache.getMany(null as never), 'E_INVALID_KEY')
add('getMany', 'empty (fine)', (c) => c.cache.getMany([]), 'ok')
add('setMany', 'not an array', (c) => c.cache.setMany('a' as never), 'E_INVALID_VALUE')
add('setMany', 'a null entry', (c) => c.cache.setMany([null as never]), 'E_INVALID_VALUE')
add('setMany', 'empty (fine)', (c) => c.cache.setMany([]), 'ok')
add('invalidateTags', 'not an array', (c) => c.cache.invalidateTags('a' as never), 'E_INVALID_OPTION')
add('invalidateTags', 'a number tag', (c) => c.cache.invalidateTags([1 as never]), 'E_INVALID_OPTION')
add('invalidateTags', 'empty (fine)', (c) => c.cache.invalidateTags([]), 'ok')
add('deleteMatching', 'empty pattern', (c) => c.cache.deleteMatching(''), 'E_INVALID_KEY')
add('deleteMatching', 'a number', (c) => c.cache.deleteMatching(5 as never), 'E_INVALID_KEY')
add('deleteMatching', 'invalid class [z-a]*', (c) => c.cache.deleteMatching('[z-a]*'), 'ok')
add('deleteMatching', 'unclosed class a[b', (c) => c.cache.deleteMatching('a[b'), 'ok')
add('SessionStore.get', 'malformed id', (c) => c.sessions.get('not-a-session-id'), 'E_INVALID_KEY')
add('SessionStore.set', 'data undefined', (c) => c.sessions.set('x'.repeat(43), undefined), 'E_INVALID_VALUE')

/** What a call did: `ok`, its code, `loader`, or how it broke the contract. */
async function outcome(run: () => Promise<unknown>): Promise<string> {
  let p: Promise<unknown>
  try {
    p = run()
  } catch (e) {
    return `threw synchronously: ${String(e)}`
  }
  if (!(p instanceof Promise)) return 'returned a non-promise'
  let timer: NodeJS.Timeout | undefined
  const hang = new Promise<string>((r) => (timer = setTimeout(() => r('hang'), HANG_MS)))
  const settled = p.then(
    () => 'ok',
    (e: unknown) => {
      if (e === loaderError) return 'loader'
      if (e instanceof CacheError && /^E_[A-Z_]+$/.test(e.code)) return e.code
      return `untyped ${e instanceof Error ? e.name : typeof e}: ${String((e as Error)?.message ?? e)}`
    },
  )
  const r = await Promise.race([settled, hang])
  clearTimeout(timer)
  return r
}

const modes: [string, () => CacheOptions][] = [
  ['memory', () => ({})],
  ['valkey', () => ({ url: inject('valkeyUrl') })],
]
const results = new Map<string, Map<string, string>>()

describe.each(modes)('bad input (%s)', (mode, base) => {
  const ctx = (): Ctx => {
    const cache = new Cache({ ...base(), prefix: uniquePrefix('bad'), maxValueBytes: 1 << 20 })
    open.push(cache)
    return {
      cache,
      limiter: new RateLimiter(cache, { limit: 10, window: 60 }),
      sessions: new SessionStore(cache, { ttl: 60 }),
    }
  }
  let c: Ctx
  it.each(cases)('%s: %s', async (method, input, run, expected) => {
    c ??= ctx()
    const got = await outcome(() => run(c))
    const perMode = results.get(`${method}: ${input}`) ?? new Map<string, string>()
    perMode.set(mode, got)
    results.set(`${method}: ${input}`, perMode)
    expect(got).toBe(expected)
  })
})

describe('the same outcome in both modes', () => {
  it.each(cases)('%s: %s', (method, input) => {
    const perMode = results.get(`${method}: ${input}`)
    expect(perMode?.size).toBe(2)
    expect(perMode!.get('valkey')).toBe(perMode!.get('memory'))
  })

  it('lone surrogates never alias keys (rejected or kept distinct, alike in both modes)', async () => {
    const seen: string[] = []
    for (const [, base] of modes) {
      const cache = new Cache({ ...base(), prefix: uniquePrefix('surrogate') })
      open.push(cache)
      const set = await outcome(() => cache.set('x\uD800', 'first'))
      const other = await outcome(() => cache.get('x\uDBFF'))
      const read = await cache.get('x\uDBFF').catch(() => undefined)
      expect(['ok', 'E_INVALID_KEY']).toContain(set)
      expect(read).toBeUndefined()
      seen.push(`${set}/${other}`)
    }
    expect(seen[1]).toBe(seen[0])
  })
})
