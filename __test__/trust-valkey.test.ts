/**
 * Regressions of issue 9 that need a real Valkey: the bus (setMany announcements, malformed
 * messages, L1 from the first reads), foreign values seen by has(), and error counting in batches.
 */
import { describe, expect, inject, it } from 'vitest'
import { valkeyCommand } from '../scripts/valkey.mjs'
import { cacheFactory, uniquePrefix } from './contract'
import { servedFromL1 } from './faults/track'

const BUS = '__ferrocache:bus'
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const { make } = cacheFactory('trust', () => ({ url: inject('valkeyUrl') }))
async function eventually(check: () => Promise<boolean>, ms = 10_000): Promise<void> {
  const started = Date.now()
  while (!(await check())) {
    if (Date.now() - started > ms) throw new Error('condition not met in time')
    await sleep(5)
  }
}

describe('bus and L1 (Valkey)', () => {
  it('setMany announces its writes: other instances and its own L1 drop the old value', async () => {
    const prefix = uniquePrefix('sm-bus')
    const a = make({ prefix, l1: {} })
    const b = make({ prefix, l1: {} })
    await a.set('k', 'old')
    await servedFromL1(a, 'k')
    await servedFromL1(b, 'k')
    await a.setMany([{ key: 'k', value: 'new' }])
    expect(await a.get('k')).toBe('new')
    await eventually(async () => (await b.get('k')) === 'new')
  })

  it('a setMany of many long keys is announced in full (split into messages below the size limit)', async () => {
    const prefix = uniquePrefix('sm-long')
    // Multi-megabyte pipelines on shared cores: a generous timeout (this test is about the bus).
    const a = make({ prefix, l1: {}, commandTimeoutMs: 20_000 })
    const b = make({ prefix, l1: {}, commandTimeoutMs: 20_000 })
    const keys = Array.from({ length: 5_000 }, (_, i) => `${'k'.repeat(1000)}${i}`)
    await a.setMany(keys.map((key) => ({ key, value: 'old' })))
    const watched = [keys[0], keys[2_499], keys[4_999]]
    for (const k of watched) await servedFromL1(b, k)
    // ~5 MB of keys: one message would be over the bus's 4 MiB limit and dropped.
    await a.setMany(keys.map((key) => ({ key, value: 'new' })))
    for (const k of watched) await eventually(async () => (await b.get(k)) === 'new')
    expect(b.stats().badBusMessages).toBe(0)
  })

  it('a fresh Cache with l1 fills and serves L1 from its first reads', async () => {
    const prefix = uniquePrefix('l1-fresh')
    const writer = make({ prefix })
    await writer.set('k', 'v')
    const fresh = make({ prefix, l1: {} })
    expect(await fresh.get('k')).toBe('v')
    expect(await fresh.get('k')).toBe('v')
    expect(fresh.stats().l1Hits).toBe(1)
    // And stays coherent: a write elsewhere reaches it over the bus.
    const other = make({ prefix, l1: {} })
    await other.set('k', 'v2')
    await eventually(async () => (await fresh.get('k')) === 'v2')
  })

  it('malformed bus messages are dropped and counted; nothing throws, nothing hangs', async () => {
    const url = inject('valkeyUrl')
    const prefix = uniquePrefix('bus-bad')
    const a = make({ prefix, l1: {} })
    await a.set('k', 'v')
    await servedFromL1(a, 'k')
    const bad = [
      '["m","[z-a]"]',
      '["m","[z-a]*"]',
      'not json',
      '{"k":1}',
      '["k",1,2]',
      '["m"]',
      '["m",null]',
      '[]',
      '["x"]',
      '"k"',
      'null',
      '[["k"]]',
      '["k",' + '"a",'.repeat(1000) + '"a"]',
      '["k","' + 'x'.repeat(5 * 1024 * 1024) + '"]',
      '\u0000\u00ff',
    ]
    const before = a.stats().badBusMessages
    // Reads in flight while the messages arrive share drain chunks with them.
    const reads: Promise<unknown>[] = []
    for (const m of bad) {
      reads.push(...Array.from({ length: 20 }, () => a.get('k')))
      await valkeyCommand(url, 'PUBLISH', BUS, m)
      reads.push(...Array.from({ length: 20 }, () => a.get('k')))
    }
    const settled = await Promise.allSettled(reads)
    for (const s of settled) expect(s).toEqual({ status: 'fulfilled', value: 'v' })
    // Three are well-formed: the two "[z-a]" globs (Valkey reads a reversed range as [a-z], and so
    // does the engine's matcher) and the long key list; the other twelve are dropped and counted.
    await eventually(async () => a.stats().badBusMessages - before >= bad.length - 3)
    // Still coherent afterwards.
    const b = make({ prefix, l1: {} })
    await b.set('k', 'after')
    await eventually(async () => (await a.get('k')) === 'after')
  })
})

describe('reads that agree and count (Valkey)', () => {
  it('has() is false for foreign or corrupt values, like get()', async () => {
    const url = inject('valkeyUrl')
    const prefix = uniquePrefix('has-foreign')
    const c = make({ prefix })
    await valkeyCommand(url, 'SET', `${prefix}foreign`, 'plain text written by someone else')
    await valkeyCommand(url, 'SET', `${prefix}short`, Buffer.from([0xfc, 1, 2]))
    for (const k of ['foreign', 'short']) {
      expect(await c.get(k)).toBeUndefined()
      expect(await c.has(k)).toBe(false)
    }
  })

  it('a wrong-type key counts one error per read, alone or in a batch', async () => {
    const url = inject('valkeyUrl')
    const prefix = uniquePrefix('wrongtype')
    const c = make({ prefix })
    await valkeyCommand(url, 'RPUSH', `${prefix}list`, 'a')
    await valkeyCommand(url, 'HSET', `${prefix}hash`, 'f', 'v')
    await c.set('ok', 1)
    const delta = async (reads: () => Promise<unknown>): Promise<number[]> => {
      const s0 = c.stats()
      await reads()
      const s1 = c.stats()
      return [s1.errors - s0.errors, s1.misses - s0.misses, s1.hits - s0.hits]
    }
    // [errors, misses, hits]: a wrong-type key is an error and a miss, alone or batched.
    expect(await delta(() => c.get('list'))).toEqual([1, 1, 0])
    expect(await delta(() => c.getMany(['list', 'ok', 'hash', 'absent']))).toEqual([2, 3, 1])
    expect(await delta(() => Promise.all([c.get('list'), c.get('hash')]))).toEqual([2, 2, 0])
    // has() agrees (false) and counts the error, but no read: neither hit nor miss.
    expect(await c.has('list')).toBe(false)
    expect(await delta(() => Promise.all([c.has('list'), c.has('hash'), c.has('ok')]))).toEqual([2, 0, 0])
    expect(await c.getMany(['list', 'ok', 'hash', 'absent'])).toEqual([undefined, 1, undefined, undefined])
  })
})
