/** Refresh-ahead on a real Valkey and in memory: one background refresh, no caller ever waits. */
import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { describe, expect, inject, it } from 'vitest'
import { Cache } from '../ts/index'
import { valkeyCommand } from '../scripts/valkey.mjs'
import { clusterNodes } from './cluster-nodes'
import { cacheFactory, rejection, uniquePrefix } from './contract'

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

interface Report {
  versions: number[]
  after: { version: number; pid: number }
  stats: { loads: number; refreshes: number; refreshErrors: number }
}

function worker(args: string[]): { ready: Promise<void>; go: () => void; done: Promise<Report> } {
  const child = spawn(process.execPath, [join(__dirname, 'fixtures/refresh-worker.mjs'), ...args], {
    stdio: ['pipe', 'pipe', 'pipe'],
  })
  let out = ''
  let err = ''
  let ready = (): void => {}
  const isReady = new Promise<void>((r) => (ready = r))
  child.stdout.on('data', (d) => {
    out += d
    if (out.includes('READY\n')) ready()
  })
  child.stderr.on('data', (d) => (err += d))
  const done = new Promise<Report>((resolve, reject) =>
    child.on('exit', (code) => {
      ready()
      if (code === 0) resolve(JSON.parse(out.trim().split('\n').pop()!))
      else reject(new Error(`worker ${code}: ${err}`))
    }),
  )
  return { ready: isReady, go: () => child.stdin.end('go\n'), done }
}

describe('refresh-ahead (valkey, 4 processes)', () => {
  it('4 processes × 200 callers past the refresh point → one load in total, every caller served at once', async () => {
    const url = inject('valkeyUrl')
    const prefix = uniquePrefix('ra')
    const counter = `${prefix}count`
    const seed = new Cache({ url, prefix })
    // ttl 6 s, refreshAhead 0.25: due after 1.5 s; the workers read it at ≥ 2 s, all at once.
    await seed.getOrSet('hot', () => ({ version: 1, pid: process.pid }), { ttl: 6, refreshAhead: 0.25 })
    await seed.close()
    const seeded = Date.now()
    const workers = Array.from({ length: 4 }, () => worker([url, prefix, 'hot', counter, '200', '1000']))
    await Promise.all(workers.map((w) => w.ready))
    await sleep(Math.max(0, seeded + 2000 - Date.now())) // past the refresh point, well before expiry
    for (const w of workers) w.go()
    const reports = await Promise.all(workers.map((w) => w.done))
    expect(Number(await valkeyCommand(url, 'GET', counter))).toBe(1)
    for (const r of reports) {
      // Nobody waited for the loader: every caller got the current value (version 1) at once.
      expect(r.versions).toHaveLength(200)
      expect(new Set(r.versions)).toEqual(new Set([1]))
      expect(r.after.version).toBe(2) // the new value landed, visible to every process
    }
    expect(reports.reduce((n, r) => n + r.stats.refreshes, 0)).toBe(1)
    expect(reports.reduce((n, r) => n + r.stats.loads, 0)).toBe(1)
  }, 60_000)
})

function suite(mode: string, base: () => { url?: string; nodes?: string[] }): void {
  const { make } = cacheFactory(`ra-${mode}`, base)
  describe(`refresh-ahead (${mode})`, () => {
    it('a key read continuously for 3× its ttl never misses and never waits for its loader', async () => {
      const cache = make()
      let calls = 0
      const loader = async () => {
        await sleep(30)
        return ++calls
      }
      const end = Date.now() + 3000
      const seen: unknown[] = []
      while (Date.now() < end) {
        seen.push(await cache.getOrSet('busy', loader, { ttl: 1, refreshAhead: 0.5 }))
        await sleep(20)
      }
      const s = cache.stats()
      expect(seen.every((v) => typeof v === 'number')).toBe(true)
      expect(s.loads - s.refreshes).toBe(1) // only the very first call loaded in the foreground
      expect(s.refreshes).toBeGreaterThanOrEqual(3) // ≥ one refresh per ttl
      expect(calls).toBe(s.loads)
      expect(Math.max(...(seen as number[]))).toBeGreaterThan(1)
    }, 20_000)

    it('a failing refresh keeps the current value and is counted; ctx.stale is the current value', async () => {
      const cache = make()
      await cache.getOrSet('k', () => 'v1', { ttl: 2, refreshAhead: 0.1 })
      await sleep(400)
      let staleSeen: unknown
      const failing = (ctx: { stale?: unknown }) => {
        staleSeen = ctx.stale
        throw new Error('db down')
      }
      expect(await cache.getOrSet('k', failing, { ttl: 2, refreshAhead: 0.1 })).toBe('v1')
      for (let i = 0; i < 50 && cache.stats().refreshErrors === 0; i++) await sleep(10)
      expect(cache.stats().refreshErrors).toBe(1)
      expect(staleSeen).toBe('v1')
      expect(await cache.get('k')).toBe('v1')
      // Fresh entries do not refresh: a hit before the refresh point never calls the loader.
      await cache.set('f', 'x', { ttl: 60 })
      let called = false
      await cache.getOrSet('f', () => ((called = true), 'y'), { ttl: 60, refreshAhead: 0.9 })
      await sleep(50)
      expect(called).toBe(false)
    })

    it('rejects refreshAhead outside (0, 1)', async () => {
      const cache = make()
      for (const bad of [0, 1, -0.5, 2, NaN, '0.5']) {
        const e = await rejection(cache.getOrSet('x', () => 1, { refreshAhead: bad as number }))
        expect(e.code).toBe('E_INVALID_OPTION')
      }
    })
  })
}

suite('valkey', () => ({ url: inject('valkeyUrl') }))
suite('memory', () => ({}))
suite('cluster', () => ({ nodes: clusterNodes() }))
