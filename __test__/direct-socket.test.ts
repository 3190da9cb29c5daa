/**
 * The direct path (`directSocket`, on by default): a sequential caller's requests are written to
 * a connection of the JS thread's own and read back by the event loop. It must serve exactly what
 * the I/O thread serves, take only sequential work, and survive its connection being killed, the
 * server stalling and `close()` with a request in flight.
 */
import { spawnSync } from 'node:child_process'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { Cache } from '../ts/index'
import { startValkey, valkeyCommand } from '../scripts/valkey.mjs'
import { uniquePrefix } from './contract'
import { noUnhandled, ownValkey, sleep, until } from './faults/track'

noUnhandled()
// A server of our own: the tests kill its clients and stall it.
const own = ownValkey()
const open = own.open

function cache(options: Partial<ConstructorParameters<typeof Cache>[0]> = {}): Cache {
  const c = new Cache({ url: own.server.url, prefix: uniquePrefix('direct'), ...options })
  open.push(c)
  return c
}

/** Resolves once a sequential call went the direct way (the connection opens in the background). */
async function directUp(c: Cache): Promise<void> {
  await until(async () => {
    const before = c.stats().directBatches
    await c.get('probe-direct')
    return c.stats().directBatches > before
  })
}

/**
 * Calls `call(i)` n times, each in a batch of its own: issued after the previous one's frame went
 * out, and all before any reply can be read (no event-loop turn in between).
 */
async function oneBatchPerTick<T>(n: number, call: (i: number) => Promise<T>): Promise<Promise<T>[]> {
  const calls: Promise<T>[] = []
  for (let i = 0; i < n; i++) {
    calls.push(call(i))
    await null
    await null
  }
  return calls
}

const value = { n: 1, at: new Date(1_700_000_000_000), tags: new Set(['a']), big: 'x'.repeat(5000) }

describe('directSocket', () => {
  it('sequential calls take the direct connection and read exactly what the I/O thread reads', async () => {
    const direct = cache()
    const prefix = direct.prefix
    const io = new Cache({ url: own.server.url, prefix, directSocket: false })
    open.push(io)
    await directUp(direct)
    const before = direct.stats().directBatches
    await direct.set('v', value, { tags: ['t'] })
    await direct.setMany([
      { key: 'a', value: 1 },
      { key: 'b', value: [2] },
    ])
    expect(await direct.get('v')).toEqual(value)
    expect(await direct.getMany(['a', 'missing', 'b', 'v'])).toEqual([1, undefined, [2], value])
    expect(await direct.has('a')).toBe(true)
    expect(await direct.delete('a')).toBe(true)
    expect(await direct.get('a')).toBeUndefined()
    // A key of another type: MGET reads it as nil, GET as an error; both paths agree on the answer.
    await valkeyCommand(own.server.url, 'LPUSH', `${prefix}list`, 'x')
    const viaDirect = await direct.getMany(['list', 'b']).catch((e: { code: string }) => e.code)
    const viaIo = await io.getMany(['list', 'b']).catch((e: { code: string }) => e.code)
    expect(viaDirect).toEqual(viaIo)
    await direct.invalidateTags(['t'])
    expect(await direct.get('v')).toBeUndefined()
    expect(await io.get('v')).toBeUndefined()
    expect(direct.stats().directBatches - before).toBeGreaterThanOrEqual(9)
    expect(io.stats().directBatches).toBe(0)
  })

  it('directSocket must be a boolean (E_INVALID_OPTION naming it); memory-only mode ignores it', async () => {
    for (const bad of ['yes', 1, null])
      expect(() => new Cache({ directSocket: bad as never })).toThrow(
        expect.objectContaining({
          code: 'E_INVALID_OPTION',
          message: expect.stringContaining('directSocket'),
        }),
      )
    const memory = new Cache({ directSocket: true })
    await memory.set('k', 1)
    expect(await memory.get('k')).toBe(1)
    expect(memory.stats().directBatches).toBe(0)
    await memory.close()
  })

  it('a write and a read issued in the same tick run in order on one connection', async () => {
    const c = cache()
    await directUp(c)
    for (let i = 0; i < 50; i++) {
      const [, got] = await Promise.all([c.set('k', i), c.get('k')])
      expect(got).toBe(i)
    }
  })

  it('concurrent callers all get their own values (the I/O thread takes what overlaps)', async () => {
    const c = cache()
    await directUp(c)
    await c.setMany(Array.from({ length: 64 }, (_, i) => ({ key: `c${i}`, value: { i } })))
    const readers = Array.from({ length: 64 }, async (_, i) => {
      for (let round = 0; round < 20; round++) {
        await sleep(i % 3)
        expect(await c.get(`c${i}`)).toEqual({ i })
      }
    })
    await Promise.all(readers)
  })

  it('callers a few at a time share the direct connection, pipelined, each reading its own value', async () => {
    const c = cache()
    await c.setMany(Array.from({ length: 6 }, (_, i) => ({ key: `p${i}`, value: { i } })))
    await directUp(c)
    const before = c.stats().directBatches
    // Six batches, all in flight on the direct connection together.
    const reads = await oneBatchPerTick(6, (i) => c.get(`p${i}`))
    expect(await Promise.all(reads)).toEqual(Array.from({ length: 6 }, (_, i) => ({ i })))
    expect(c.stats().directBatches - before).toBe(6)
  })

  it('beyond the depth of the direct connection, batches go to the I/O thread and all read right', async () => {
    const c = cache()
    await c.setMany(Array.from({ length: 40 }, (_, i) => ({ key: `q${i}`, value: `v${i}` })))
    await directUp(c)
    const before = c.stats().directBatches
    const reads = await oneBatchPerTick(40, (i) => c.get(`q${i}`))
    expect(await Promise.all(reads)).toEqual(Array.from({ length: 40 }, (_, i) => `v${i}`))
    const direct = c.stats().directBatches - before
    expect(direct).toBeGreaterThanOrEqual(1)
    expect(direct).toBeLessThan(40)
  })

  it('after CLIENT KILL the calls settle typed, and later ones use a new direct connection', async () => {
    const c = cache()
    await c.set('k', 'v')
    await directUp(c)
    const failures: string[] = []
    for (let round = 0; round < 3; round++) {
      await valkeyCommand(own.server.url, 'CLIENT', 'KILL', 'TYPE', 'normal', 'SKIPME', 'yes')
      for (let i = 0; i < 20; i++) {
        const got = await c.get('k').catch((e: { code: string }) => (failures.push(e.code), 'failed'))
        // A read never answers another request's value: a miss (soft error) or the value.
        expect([undefined, 'v', 'failed']).toContain(got)
      }
      await until(async () => (await c.get('k')) === 'v')
      await directUp(c)
    }
    for (const code of failures) expect(['E_CONNECTION', 'E_TIMEOUT']).toContain(code)
  }, 30_000)

  for (const n of [1, 4])
    it(`a stalled server, ${n} direct request(s) in flight: each settles E_TIMEOUT (or a miss), and the cache recovers`, async () => {
      const stalled = await startValkey()
      try {
        const c = new Cache({ url: stalled.url, prefix: uniquePrefix('stall'), commandTimeoutMs: 200 })
        open.push(c)
        const keys = Array.from({ length: n }, (_, i) => `k${i}`)
        await c.setMany(keys.map((key, i) => ({ key, value: i })))
        await directUp(c)
        const [errors, direct] = [c.stats().errors, c.stats().directBatches]
        stalled.kill('SIGSTOP')
        let settled: unknown[]
        try {
          const reads = await oneBatchPerTick(n, (i) => c.get(keys[i]).catch((e: { code: string }) => e.code))
          settled = await Promise.all(reads)
        } finally {
          stalled.kill('SIGCONT')
        }
        expect(c.stats().directBatches - direct).toBe(n)
        for (const s of settled) expect([undefined, 'E_TIMEOUT']).toContain(s)
        expect(c.stats().errors).toBeGreaterThan(errors)
        await until(async () => (await c.get(keys[n - 1])) === n - 1)
        await directUp(c)
        expect(await c.getMany(keys)).toEqual(keys.map((_, i) => i))
      } finally {
        await stalled.stop()
      }
    }, 30_000)

  it('close() with a direct request in flight settles it, and the process exits by itself', () => {
    const entry = path.resolve(__dirname, '../dist/index.mjs')
    const code =
      `import { Cache } from ${JSON.stringify(entry)};` +
      'const c = new Cache({ url: process.env.U, prefix: `exit${process.pid}:` });' +
      "await c.set('k', 1);" +
      'for (let i = 0; i < 200 && c.stats().directBatches === 0; i++) await c.get(`k`);' +
      "const inFlight = c.get('k').then((v) => 'value ' + v, (e) => e.code);" +
      'await c.close();' +
      'console.log(c.stats().directBatches > 0, await inFlight)'
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', code], {
      encoding: 'utf8',
      timeout: 20_000,
      env: { ...process.env, U: own.server.url },
    })
    expect(r.error).toBeUndefined() // no timeout: the process ended by itself
    expect(r.stderr).toBe('')
    expect(r.stdout.trim()).toMatch(/^true (value 1|E_CLOSED)$/)
  })
})
