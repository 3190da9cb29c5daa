/** Durable write-behind on Valkey Streams (real processes, SIGKILL) and its in-memory journal. */
import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { describe, expect, inject, it } from 'vitest'
import { Cache, type CacheOptions, type WriteBehindEntry } from '../ts/index'
import { valkeyCommand } from '../scripts/valkey.mjs'
import { clusterNodes } from './cluster-nodes'
import { cacheFactory, uniquePrefix } from './contract'

const worker = join(__dirname, 'fixtures/write-behind-worker.mjs')

describe('write-behind (valkey, processes)', () => {
  it('a producer SIGKILLed mid-flush: a second process takes over; the sink ends at every last value', async () => {
    const url = inject('valkeyUrl')
    const prefix = uniquePrefix('wb-kill')
    const sink = `${prefix}sink`
    const producer = spawn(process.execPath, [worker, url, prefix, 'orders', sink, 'produce', '1000'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let out = ''
    let err = ''
    producer.stderr.on('data', (d) => (err += d))
    const exited = new Promise((r) => producer.on('exit', r))
    await new Promise<void>((resolve, reject) => {
      producer.stdout.on('data', (d) => {
        out += d
        // Killed while a flush is in progress, after every write was journaled.
        const after = out.split('JOURNALED\n')[1]
        if (after !== undefined && after.includes('FLUSH')) resolve()
      })
      producer.on('exit', () => reject(new Error(`producer exited early: ${err}`)))
    })
    producer.kill('SIGKILL')
    await exited
    const flushedBefore = (out.match(/FLUSH/g) ?? []).length
    expect(flushedBefore).toBeGreaterThan(0)
    expect(Number(await valkeyCommand(url, 'HLEN', sink))).toBeLessThanOrEqual(500)

    const consumer = spawn(process.execPath, [worker, url, prefix, 'orders', sink, 'consume', '1000'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let cOut = ''
    let cErr = ''
    consumer.stdout.on('data', (d) => (cOut += d))
    consumer.stderr.on('data', (d) => (cErr += d))
    const code = await new Promise((r) => consumer.on('exit', r))
    expect(code, cErr).toBe(0)
    const stats = JSON.parse(cOut.trim().split('\n').pop()!)
    expect(stats.deadLettered).toBe(0)
    expect(stats.flushed).toBeGreaterThan(0)
    const all = (await valkeyCommand(url, 'HGETALL', sink)) as unknown as Buffer[]
    const got = new Map<string, { value: number }>()
    for (let i = 0; i < all.length; i += 2) got.set(String(all[i]), JSON.parse(String(all[i + 1])))
    expect(got.size).toBe(500)
    for (let k = 0; k < 500; k++) expect(got.get(`k${k}`)?.value, `k${k}`).toBe(9)
    // The cache holds the last values too.
    const cache = new Cache({ url, prefix })
    expect(await cache.getMany(['k0', 'k499'])).toEqual([9, 9])
    await cache.close()
  }, 120_000)
})

function suite(mode: string, base: () => CacheOptions): void {
  const { make } = cacheFactory(`wb-${mode}`, base)
  const sinkOf = () => {
    const rows = new Map<string, unknown>()
    const calls: WriteBehindEntry[][] = []
    return {
      rows,
      calls,
      flush: (batch: WriteBehindEntry[]) =>
        void (calls.push(batch), batch.forEach((e) => rows.set(e.key, e.value))),
    }
  }

  describe(`write-behind (${mode})`, () => {
    it('caches at once, flushes in batches: last write per key, per-key order, deletes, exact values', async () => {
      const cache = make()
      const sink = sinkOf()
      const writer = cache.writeBehind({ name: 'basic', flush: sink.flush, batchSize: 50, maxDelayMs: 20 })
      const when = new Date('2024-01-01T00:00:00Z')
      for (let v = 1; v <= 5; v++) await writer.set('counter', v)
      await writer.set('rich', { when, tags: new Set(['a']), n: 10n })
      await writer.set('gone', 1)
      await writer.delete('gone')
      expect(await cache.get('counter')).toBe(5)
      expect(await cache.get('gone')).toBeUndefined()
      await writer.drain()
      expect(sink.rows.get('counter')).toBe(5)
      expect(sink.rows.get('rich')).toEqual({ when, tags: new Set(['a']), n: 10n })
      expect(sink.rows.has('gone')).toBe(true)
      expect(sink.rows.get('gone')).toBeUndefined()
      // Per key, versions reach flush in order, and a batch carries one write per key.
      const seen = sink.calls
        .flat()
        .filter((e) => e.key === 'counter')
        .map((e) => e.value as number)
      expect([...seen].sort((a, b) => a - b)).toEqual(seen)
      for (const batch of sink.calls) {
        expect(new Set(batch.map((e) => e.key)).size).toBe(batch.length)
        expect(batch.length).toBeLessThanOrEqual(50)
      }
      const s = writer.stats()
      expect(s.journaled).toBe(8)
      expect(s.flushed).toBe(8)
      expect(s.deadLettered).toBe(0)
      await writer.close()
      await expect(writer.set('x', 1)).rejects.toMatchObject({ code: 'E_CLOSED' })
    })

    it('a flush failing 3 times then succeeding is retried with backoff; nothing lost', async () => {
      const cache = make()
      const sink = sinkOf()
      let failures = 0
      const writer = cache.writeBehind({
        name: 'flaky',
        batchSize: 500,
        maxDelayMs: 20,
        retryDelayMs: 5,
        maxAttempts: 5,
        flush: (batch) => {
          if (failures < 3) {
            failures++
            throw new Error('sink unavailable')
          }
          sink.flush(batch)
        },
      })
      await Promise.all(Array.from({ length: 20 }, (_, i) => writer.set(`r${i}`, i)))
      await writer.drain()
      expect(sink.rows.size).toBe(20)
      for (let i = 0; i < 20; i++) expect(sink.rows.get(`r${i}`)).toBe(i)
      const s = writer.stats()
      expect(s.retries).toBe(3)
      expect(s.deadLettered).toBe(0)
      expect(Math.max(...sink.calls.flat().map((e) => e.attempts))).toBe(4)
      await writer.close()
    })

    it('a poison entry ends in the dead-letter stream; the rest of its batch is flushed', async () => {
      const cache = make()
      const sink = sinkOf()
      const writer = cache.writeBehind({
        name: 'poison',
        batchSize: 100,
        maxDelayMs: 20,
        retryDelayMs: 1,
        maxAttempts: 3,
        flush: (batch) => {
          if (batch.some((e) => e.key === 'bad')) throw new Error('violates a constraint')
          sink.flush(batch)
        },
      })
      await Promise.all([writer.set('a', 1), writer.set('bad', { x: 1 }), writer.set('b', 2)])
      await writer.drain()
      expect(Object.fromEntries(sink.rows)).toEqual({ a: 1, b: 2 })
      const dead = await writer.deadLetters()
      expect(dead).toHaveLength(1)
      expect(dead[0]).toMatchObject({
        key: 'bad',
        value: { x: 1 },
        attempts: 3,
        error: 'violates a constraint',
      })
      expect(typeof dead[0].id).toBe('string')
      expect(writer.stats().deadLettered).toBe(1)
      await writer.close()
    })

    it('a backlog of many batches: each flush call at most batchSize, one write per key, in order; the journal ends empty', async () => {
      const cache = make()
      const sink = sinkOf()
      let open = () => {}
      const gate = new Promise<void>((r) => (open = r))
      const writer = cache.writeBehind({
        name: 'backlog',
        batchSize: 50,
        maxDelayMs: 20,
        flush: async (batch) => {
          await gate
          sink.flush(batch)
        },
      })
      for (let v = 0; v < 3; v++) {
        await Promise.all(Array.from({ length: 1000 }, (_, i) => writer.set(`k${i}`, v)))
      }
      open()
      await writer.drain()
      expect(sink.rows.size).toBe(1000)
      for (let i = 0; i < 1000; i++) expect(sink.rows.get(`k${i}`), `k${i}`).toBe(2)
      for (const batch of sink.calls) {
        expect(batch.length).toBeLessThanOrEqual(50)
        expect(new Set(batch.map((e) => e.key)).size).toBe(batch.length)
      }
      const versions = new Map<string, number[]>()
      for (const e of sink.calls.flat())
        versions.set(e.key, [...(versions.get(e.key) ?? []), e.value as number])
      for (const [k, vs] of versions)
        expect(
          [...vs].sort((a, b) => a - b),
          k,
        ).toEqual(vs)
      expect(writer.stats()).toMatchObject({ journaled: 3000, flushed: 3000, deadLettered: 0 })
      if (mode !== 'memory') {
        // Finished entries are acknowledged and removed from the streams, nothing left pending.
        await writer.close()
        for (let p = 0; p < 16; p++) {
          const s = `${cache.prefix}{fc-wb:backlog:${p}}`
          expect(await cache._command(s, ['XLEN', s]), s).toBe(0)
          expect(((await cache._command(s, ['XPENDING', s, 'fc-wb'])) as unknown[])[0], s).toBe(0)
        }
      }
      await writer.close()
    })

    if (mode !== 'memory') {
      it('a write whose journal append fails rejects, and its value is not left cached', async () => {
        const cache = make()
        const stream = `${cache.prefix}{fc-wb:broken:0}`
        await cache._command(stream, ['SET', stream, 'not a stream']) // XADD answers WRONGTYPE
        const writer = cache.writeBehind({ name: 'broken', flush: () => {}, partitions: 1, maxDelayMs: 20 })
        await cache.set('k', 'old')
        await expect(writer.set('k', 'new')).rejects.toMatchObject({ code: 'E_SERVER' })
        expect(await cache.get('k')).not.toBe('new')
        expect(writer.stats().journaled).toBe(0)
        await writer.close()
      })

      it('a journal stream deleted under a running writer: its group is created again and later writes still flush', async () => {
        const cache = make()
        const sink = sinkOf()
        const writer = cache.writeBehind({
          name: 'deleted',
          flush: sink.flush,
          partitions: 1,
          maxDelayMs: 20,
        })
        await writer.set('a', 1)
        await writer.drain()
        const stream = `${cache.prefix}{fc-wb:deleted:0}`
        expect(Number(await cache._command(stream, ['DEL', stream]))).toBe(1) // group and entries gone
        await writer.set('b', 2) // XADD makes a new stream, without the group
        await writer.drain()
        expect(sink.rows.get('a')).toBe(1)
        expect(sink.rows.get('b')).toBe(2)
        await writer.close()
      })

      it('a second writer on an existing journal joins its group (BUSYGROUP is not an error)', async () => {
        const cache = make()
        const sink = sinkOf()
        const first = cache.writeBehind({ name: 'joined', flush: sink.flush, partitions: 1, maxDelayMs: 20 })
        await first.set('a', 1)
        await first.drain()
        await first.close()
        const second = cache.writeBehind({ name: 'joined', flush: sink.flush, partitions: 1, maxDelayMs: 20 })
        await second.set('b', 2)
        await second.drain()
        expect(sink.rows.get('b')).toBe(2)
        expect(second.stats().flushed).toBe(1)
        await second.close()
      })
    }

    it('validates its options', () => {
      const cache = make()
      const flush = () => {}
      expect(() => cache.writeBehind({ name: '', flush })).toThrow(
        expect.objectContaining({ code: 'E_INVALID_OPTION' }),
      )
      expect(() => cache.writeBehind({ name: 'a{b}', flush })).toThrow(
        expect.objectContaining({ code: 'E_INVALID_OPTION' }),
      )
      expect(() => cache.writeBehind({ name: 'x', flush: 1 as never })).toThrow(
        expect.objectContaining({ code: 'E_INVALID_OPTION' }),
      )
      expect(() => cache.writeBehind({ name: 'x', flush, batchSize: 0 })).toThrow(
        expect.objectContaining({ code: 'E_INVALID_OPTION' }),
      )
    })
  })
}

suite('valkey', () => ({ url: inject('valkeyUrl') }))
suite('memory', () => ({}))

describe('write-behind (valkey, two consumers)', () => {
  it('two consumers share one journal: every entry flushed once, both did work, last values win', async () => {
    const url = inject('valkeyUrl')
    const prefix = uniquePrefix('wb-two')
    const a = new Cache({ url, prefix })
    const b = new Cache({ url, prefix })
    const rows = new Map<string, unknown>()
    const ids = new Map<string, number>()
    const byConsumer = [0, 0]
    const flushOf = (who: number) => (batch: WriteBehindEntry[]) => {
      byConsumer[who] += batch.length
      for (const e of batch) {
        rows.set(e.key, e.value)
        ids.set(e.id, (ids.get(e.id) ?? 0) + 1)
      }
    }
    const opts = { name: 'shared', batchSize: 50, maxDelayMs: 20, claimIdleMs: 5000 }
    const wa = a.writeBehind({ ...opts, flush: flushOf(0), consumer: 'a' })
    const wb = b.writeBehind({ ...opts, flush: flushOf(1), consumer: 'b' })
    try {
      // Let both register before the writes, so the partitions are split between them.
      await new Promise((r) => setTimeout(r, 200))
      for (let v = 0; v < 3; v++) {
        await Promise.all(Array.from({ length: 400 }, (_, i) => (i % 2 ? wa : wb).set(`k${i}`, v)))
      }
      await Promise.all([wa.drain(), wb.drain()])
      expect(rows.size).toBe(400)
      for (let i = 0; i < 400; i++) expect(rows.get(`k${i}`)).toBe(2)
      expect([...ids.values()].every((n) => n === 1)).toBe(true)
      expect(byConsumer[0]).toBeGreaterThan(0)
      expect(byConsumer[1]).toBeGreaterThan(0)
    } finally {
      await Promise.all([wa.close(), wb.close()])
      await Promise.all([a.close(), b.close()])
    }
  }, 60_000)
})

suite('cluster', () => ({ nodes: clusterNodes() }))
