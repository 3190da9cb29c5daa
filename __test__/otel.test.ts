/** OpenTelemetry: spans and metrics reach the SDK's in-memory exporters (real Valkey). */
import { metrics, trace } from '@opentelemetry/api'
import {
  AggregationTemporality,
  InMemoryMetricExporter,
  MeterProvider,
  PeriodicExportingMetricReader,
} from '@opentelemetry/sdk-metrics'
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base'
import { afterAll, describe, expect, inject, it } from 'vitest'
import { Cache } from '../ts/index'
import { uniquePrefix } from './contract'

const spans = new InMemorySpanExporter()
trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spans)] }))
const exporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE)
const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 3_600_000 })
metrics.setGlobalMeterProvider(new MeterProvider({ readers: [reader] }))

const cache = new Cache({
  url: inject('valkeyUrl'),
  prefix: uniquePrefix('otel'),
  name: 'otel',
  logger: false,
})
afterAll(() => cache.close())

describe('OpenTelemetry', () => {
  it('a span per getOrSet: cache.hit, cache.stale, cache.coalesced, db.system.name = valkey', async () => {
    spans.reset()
    await cache.getOrSet('a', () => 1) // miss: loads
    await cache.getOrSet('a', () => 2) // hit
    let release!: (v: number) => void
    const slow = new Promise<number>((r) => (release = r))
    const first = cache.getOrSet('b', () => slow)
    const second = cache.getOrSet('b', () => 3) // shares the first call's load
    release(4)
    expect(await Promise.all([first, second])).toEqual([4, 4])
    await expect(cache.getOrSet('c', () => Promise.reject(new Error('db down')))).rejects.toThrow('db down')

    const done = spans.getFinishedSpans()
    expect(done.map((s) => s.name)).toEqual(['getOrSet', 'getOrSet', 'getOrSet', 'getOrSet', 'getOrSet'])
    const attrs = done.map((s) => s.attributes)
    for (const a of attrs) {
      expect(a['db.system.name']).toBe('valkey')
      expect(a['db.operation.name']).toBe('getOrSet')
      expect(a['db.namespace']).toBe('otel')
    }
    expect(attrs[0]).toMatchObject({ 'cache.hit': false, 'cache.stale': false, 'cache.coalesced': false })
    expect(attrs[1]).toMatchObject({ 'cache.hit': true, 'cache.coalesced': false })
    const b = attrs.slice(2, 4)
    expect(b.filter((a) => a['cache.coalesced'] === true)).toHaveLength(1)
    expect(b.every((a) => a['cache.hit'] === false)).toBe(true)
    expect(done[4].status.code).toBe(2) // ERROR
    expect(done[4].status.message).toBe('db down')
  })

  it('metric instruments: operation durations and counters mirroring the Prometheus families', async () => {
    await cache.set('m', 1)
    await cache.get('m')
    await reader.forceFlush()
    const all = exporter.getMetrics().flatMap((rm) => rm.scopeMetrics.flatMap((s) => s.metrics))
    const byName = new Map(all.map((m) => [m.descriptor.name, m]))
    const duration = byName.get('db.client.operation.duration')
    expect(duration?.descriptor.unit).toBe('s')
    const ops = new Set(duration?.dataPoints.map((p) => p.attributes['db.operation.name']))
    expect(ops).toEqual(new Set(['get', 'set', 'getOrSet.load']))
    const hits = byName.get('ferrocache.hits')?.dataPoints[0]
    expect(hits?.value).toBe(cache.stats().hits)
    expect(hits?.attributes['db.system.name']).toBe('valkey')
    expect(byName.has('ferrocache.hit_ratio')).toBe(true)
  })
})
