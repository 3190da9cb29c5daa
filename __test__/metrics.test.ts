/** Prometheus exposition checked by the real promtool; prom-client collector through a real registry. */
import { execFileSync, spawnSync } from 'node:child_process'
import { Registry } from 'prom-client'
import { afterAll, describe, expect, inject, it } from 'vitest'
import { Cache, promCollector, renderMetrics, type WriteBehindEntry } from '../ts/index'
import { promtool } from '../scripts/promtool.mjs'
import { uniquePrefix } from './contract'

const open: Cache[] = []
afterAll(async () => {
  await Promise.all(open.map((c) => c.close()))
})
function make(name?: string, url: string | undefined = inject('valkeyUrl')): Cache {
  const c = new Cache({ url, prefix: uniquePrefix('metrics'), ...(name ? { name } : {}), logger: false })
  open.push(c)
  return c
}

/** promtool check metrics: exit status and its complaints (lint problems included). */
function check(text: string): { status: number | null; out: string } {
  const r = spawnSync(promtool(), ['check', 'metrics'], { input: text, encoding: 'utf8' })
  return { status: r.status, out: `${r.stdout}${r.stderr}`.trim() }
}

async function traffic(c: Cache): Promise<void> {
  await c.set('a', 1)
  await c.get('a')
  await c.get('missing')
  await c.getOrSet('loaded', async () => 42)
}

describe('Prometheus exposition', () => {
  it('promtool finds nothing wrong with one cache', async () => {
    const c = make('pages')
    await traffic(c)
    const text = await c.metrics()
    expect(check(text)).toEqual({ status: 0, out: '' })
    expect(text).toMatch(/^ferrocache_hits_total\{cache="pages",prefix="[^"]+"\} 1$/m)
    expect(text).toContain('ferrocache_ping_seconds{')
    expect(text).not.toContain('_ms')
  })

  it('promtool flags the old exposition (the check can fail)', () => {
    const old = [
      '# HELP ferrocache_ping_ms Last ping round trip in milliseconds.',
      '# TYPE ferrocache_ping_ms gauge',
      'ferrocache_ping_ms{prefix="a"} 1',
      '# HELP ferrocache_ping_ms Last ping round trip in milliseconds.',
      '# TYPE ferrocache_ping_ms gauge',
      'ferrocache_ping_ms{prefix="b"} 1',
      '',
    ].join('\n')
    const r = check(old)
    expect(r.status).not.toBe(0)
    expect(r.out).toMatch(/second HELP line|abbreviated units/)
  })

  it('renderMetrics([a, b]) is one valid exposition with a series per cache', async () => {
    const a = make('pages')
    const b = make('sessions')
    await Promise.all([traffic(a), traffic(b)])
    const text = await renderMetrics([a, b, a.namespace('x')]) // a namespace counts once
    expect(check(text)).toEqual({ status: 0, out: '' })
    expect(text.match(/^# HELP ferrocache_hits_total /gm)).toHaveLength(1)
    expect(text.match(/^ferrocache_hits_total\{/gm)).toHaveLength(2)
    expect(text).toMatch(/ferrocache_up\{cache="sessions"/)
  })

  it('two caches with the same name and prefix are refused, not exported as duplicates', async () => {
    const prefix = uniquePrefix('dup')
    const a = new Cache({ prefix, logger: false })
    const b = new Cache({ prefix, logger: false })
    open.push(a, b)
    await expect(renderMetrics([a, b])).rejects.toMatchObject({ code: 'E_INVALID_OPTION' })
  })

  it('latency histograms count get, set and getOrSet loads', async () => {
    const c = make('hist')
    for (let i = 0; i < 5; i++) await c.set(`k${i}`, i)
    for (let i = 0; i < 7; i++) await c.get(`k${i}`)
    await c.getOrSet('x', () => 1)
    await c.getOrSet('x', () => 2) // a hit: no load
    const text = await c.metrics()
    const count = (m: string) => Number(new RegExp(`^${m}_count\\{[^}]*\\} (\\S+)$`, 'm').exec(text)?.[1])
    expect(count('ferrocache_set_duration_seconds')).toBeGreaterThanOrEqual(5)
    expect(count('ferrocache_get_duration_seconds')).toBe(7)
    expect(count('ferrocache_load_duration_seconds')).toBe(1)
    expect(text).toMatch(/^ferrocache_get_duration_seconds_bucket\{[^}]*le="\+Inf"\} 7$/m)
  })

  it('strategy counters are exported: refresh-ahead, write-through and write-behind, valid for promtool', async () => {
    const c = new Cache({
      url: inject('valkeyUrl'),
      prefix: uniquePrefix('metrics'),
      name: 'strat',
      maxValueBytes: 64,
      logger: false,
    })
    open.push(c)
    // Refresh-ahead: an entry due at once (refreshAhead 0.001 of 60 s); the second refresh fails.
    const opts = { ttl: 60, refreshAhead: 0.001 }
    let calls = 0
    const loader = () => {
      if (++calls === 3) throw new Error('source down')
      return calls
    }
    await c.getOrSet('r', loader, opts)
    await new Promise((r) => setTimeout(r, 100))
    for (let i = 0; i < 2; i++) {
      await c.getOrSet('r', loader, opts)
      for (let t = 0; t < 100 && c.stats().refreshes + c.stats().refreshErrors <= i; t++)
        await new Promise((r) => setTimeout(r, 10))
      await new Promise((r) => setTimeout(r, 100))
    }
    // Write-through: the source written, the value too large to cache (counted, key invalidated).
    await c.writeThrough('big', 'x'.repeat(1000), () => {})
    // Write-behind: two writers of one name count as one series; a second name is its own.
    const rows = new Map<string, unknown>()
    const flush = (batch: WriteBehindEntry[]) => batch.forEach((e) => rows.set(e.key, e.value))
    const w1 = c.writeBehind({ name: 'orders', flush, maxDelayMs: 20 })
    const w2 = c.writeBehind({ name: 'orders', flush, maxDelayMs: 20 })
    const w3 = c.writeBehind({ name: 'users', flush, maxDelayMs: 20 })
    await Promise.all([w1.set('o1', 1), w2.set('o2', 2), w2.set('o3', 3), w3.set('u1', 1)])
    await Promise.all([w1.drain(), w2.drain(), w3.drain()])
    await w2.close() // a closed writer's counts stay in its name's totals
    const text = await c.metrics()
    expect(check(text)).toEqual({ status: 0, out: '' })
    const value = (series: string) =>
      Number(new RegExp(`^${series.replace(/[{}]/g, '\\$&')} (\\S+)$`, 'm').exec(text)?.[1])
    const labels = `cache="strat",prefix="${c.prefix}"`
    expect(value(`ferrocache_refreshes_total{${labels}}`)).toBe(c.stats().refreshes)
    expect(c.stats().refreshes).toBeGreaterThanOrEqual(1)
    expect(value(`ferrocache_refresh_errors_total{${labels}}`)).toBe(1)
    expect(value(`ferrocache_write_through_errors_total{${labels}}`)).toBe(1)
    expect(value(`ferrocache_write_behind_journaled_total{${labels},writer="orders"}`)).toBe(3)
    expect(value(`ferrocache_write_behind_journaled_total{${labels},writer="users"}`)).toBe(1)
    expect(value(`ferrocache_write_behind_dead_lettered_total{${labels},writer="orders"}`)).toBe(0)
    expect(text).toMatch(/^# TYPE ferrocache_write_behind_pending gauge$/m)
    expect(text).toMatch(/^# HELP ferrocache_write_behind_flushed_total /m)
    await Promise.all([w1.close(), w3.close()])
  })

  it('a down cache still renders valid text (up 0, ping NaN)', async () => {
    const c = make('down', 'redis://127.0.0.1:1')
    await c.get('a')
    const text = await c.metrics()
    expect(check(text)).toEqual({ status: 0, out: '' })
    expect(text).toMatch(/^ferrocache_up\{cache="down"[^}]*\} 0$/m)
    expect(text).toMatch(/^ferrocache_ping_seconds\{cache="down"[^}]*\} NaN$/m)
  })

  it('prom-client: the families land in an existing registry, valid for promtool', async () => {
    const a = make('pc-a')
    const b = make('pc-b')
    await traffic(a)
    const registry = new Registry()
    promCollector([a, b], registry)
    const text = await registry.metrics()
    expect(check(text)).toEqual({ status: 0, out: '' })
    expect(text).toMatch(/^ferrocache_hits_total\{cache="pc-a",prefix="[^"]+"\} 1$/m)
    expect(text).toMatch(
      /^ferrocache_get_duration_seconds_bucket\{cache="pc-b",prefix="[^"]+",le="0.001"\} 0$/m,
    )
  })

  it('promtool is real (version)', () => {
    expect(execFileSync(promtool(), ['--version'], { encoding: 'utf8' })).toMatch(/promtool, version/)
  })
})
