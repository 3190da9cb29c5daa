/** Prometheus exposition checked by the real promtool; prom-client collector through a real registry. */
import { execFileSync, spawnSync } from 'node:child_process'
import { Registry } from 'prom-client'
import { afterAll, describe, expect, inject, it } from 'vitest'
import { Cache, promCollector, renderMetrics } from '../ts/index'
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
