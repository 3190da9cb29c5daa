/**
 * Counters since the cache started (shared by all namespaces of one `Cache`); the `getOrSet`
 * counters (`loads`, `loadErrors`, `coalesced`, `lockWaits`, `staleServed`, `refreshes`,
 * `refreshErrors`) are its single-flight's own.
 */
export interface CacheStats extends FlightCounters {
  hits: number
  misses: number
  l1Hits: number
  l2Hits: number
  sets: number
  deletes: number
  /** writeThrough calls whose caching failed after the source was written (key invalidated). */
  writeThroughErrors: number
  errors: number
  bytesWritten: number
  bytesRead: number
  compressedWrites: number
  /** Batches that ran on the JS thread's own connection (`directSocket`), not the I/O thread. */
  directBatches: number
  /** Messages on the bus channel that were not valid ferrocache messages (dropped, never thrown). */
  badBusMessages: number
  /** hits / (hits + misses), 0 when nothing was read. */
  hitRate: number
  /** tRPC `cacheMiddleware` counters per procedure path (at most 200 paths; the rest under `__other__`). */
  procedures?: Record<string, ProcedureStats>
}

/** Result of `health()`. */
export interface HealthReport {
  ok: boolean
  latencyMs: number
  mode: 'memory' | 'standalone' | 'cluster'
  error?: string
}

import { CacheError } from '../core/errors'
import type { Histogram, ProcedureStats, Telemetry, WriterCounts } from './telemetry'
import type { FlightCounters } from './flight-plan'

/** One cache's share of an exposition. */
export interface MetricsSource {
  /** `CacheOptions.name` (default: the prefix). */
  name: string
  prefix: string
  stats: CacheStats
  health: HealthReport
  telemetry: Telemetry
}

type Kind = 'counter' | 'gauge'
type NumericStat = Exclude<keyof CacheStats, 'procedures'>
/** Counter/gauge families: [stats field, metric name, help, type]. Names follow the base-unit rules. */
const FAMILIES: [NumericStat, string, string, Kind][] = [
  ['hits', 'ferrocache_hits_total', 'Reads that found a value.', 'counter'],
  ['misses', 'ferrocache_misses_total', 'Reads that found nothing (including unreadable values).', 'counter'],
  ['l1Hits', 'ferrocache_l1_hits_total', 'Reads served by the in-process tier.', 'counter'],
  ['l2Hits', 'ferrocache_l2_hits_total', 'Reads served by Valkey (or the memory store).', 'counter'],
  ['sets', 'ferrocache_sets_total', 'Values written.', 'counter'],
  ['deletes', 'ferrocache_deletes_total', 'Keys deleted.', 'counter'],
  ['loads', 'ferrocache_loads_total', 'Loader calls made by getOrSet.', 'counter'],
  ['loadErrors', 'ferrocache_load_errors_total', 'Loader calls that failed.', 'counter'],
  ['coalesced', 'ferrocache_coalesced_total', "getOrSet calls that shared another call's load.", 'counter'],
  [
    'lockWaits',
    'ferrocache_lock_waits_total',
    "getOrSet calls that waited for another process's load.",
    'counter',
  ],
  ['staleServed', 'ferrocache_stale_served_total', 'Stale values served within grace.', 'counter'],
  ['refreshes', 'ferrocache_refreshes_total', 'Refresh-ahead loads run by this process.', 'counter'],
  [
    'refreshErrors',
    'ferrocache_refresh_errors_total',
    'Refresh-ahead loads that failed (the current value stayed in place).',
    'counter',
  ],
  [
    'writeThroughErrors',
    'ferrocache_write_through_errors_total',
    'writeThrough calls whose caching failed after the source was written (key invalidated).',
    'counter',
  ],
  [
    'errors',
    'ferrocache_errors_total',
    'Failed operations (connection, timeout, corrupt values).',
    'counter',
  ],
  ['bytesWritten', 'ferrocache_written_bytes_total', 'Bytes of keys and stored values written.', 'counter'],
  ['bytesRead', 'ferrocache_read_bytes_total', 'Bytes of stored values read.', 'counter'],
  ['compressedWrites', 'ferrocache_compressed_writes_total', 'Values stored lz4-compressed.', 'counter'],
  [
    'directBatches',
    'ferrocache_direct_batches_total',
    "Request batches that ran on the JS thread's own connection.",
    'counter',
  ],
  [
    'badBusMessages',
    'ferrocache_bad_bus_messages_total',
    'Bus messages dropped as malformed or foreign.',
    'counter',
  ],
  ['hitRate', 'ferrocache_hit_ratio', 'hits / (hits + misses), 0 before the first read.', 'gauge'],
]

/** Write-behind families, one series per writer name: [counter, metric name, help, type]. */
const WRITER_FAMILIES: [keyof WriterCounts, string, string, Kind][] = [
  [
    'journaled',
    'ferrocache_write_behind_journaled_total',
    'Writes journaled by write-behind writers.',
    'counter',
  ],
  [
    'flushed',
    'ferrocache_write_behind_flushed_total',
    'Journal entries finished by a successful flush (superseded ones included).',
    'counter',
  ],
  ['retries', 'ferrocache_write_behind_retries_total', 'Failed flush calls that were retried.', 'counter'],
  [
    'deadLettered',
    'ferrocache_write_behind_dead_lettered_total',
    'Journal entries moved to the dead-letter stream.',
    'counter',
  ],
  [
    'pending',
    'ferrocache_write_behind_pending',
    'Entries in the journal (all consumers), as of the last round that found nothing to do.',
    'gauge',
  ],
]

const HISTOGRAMS: ['get' | 'set' | 'load', string, string][] = [
  ['get', 'ferrocache_get_duration_seconds', 'get() round trip (L2 reads; L1 hits are not timed).'],
  ['set', 'ferrocache_set_duration_seconds', 'set() round trip, until Valkey acknowledged the write.'],
  ['load', 'ferrocache_load_duration_seconds', 'getOrSet loader run time (cache misses that loaded).'],
]

/** Every metric family this package exports, for dashboards (README: "Operating ferrocache"). */
export const METRIC_NAMES: readonly string[] = [
  ...FAMILIES.map((f) => f[1]),
  'ferrocache_up',
  'ferrocache_ping_seconds',
  ...HISTOGRAMS.map((h) => h[1]),
  ...WRITER_FAMILIES.map((f) => f[1]),
  'ferrocache_trpc_hits_total',
  'ferrocache_trpc_misses_total',
  'ferrocache_trpc_stale_served_total',
  'ferrocache_trpc_loads_total',
  'ferrocache_trpc_load_seconds_total',
]

function esc(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')
}

function num(v: number): string {
  if (Number.isNaN(v)) return 'NaN'
  if (v === Infinity) return '+Inf'
  if (v === -Infinity) return '-Inf'
  return String(v)
}

/**
 * Renders caches as one Prometheus text exposition (format 0.0.4): each family's HELP/TYPE once,
 * one series per cache (`cache`, `prefix` labels). Throws `E_INVALID_OPTION` when two sources would
 * produce the same series (same name and prefix): Prometheus rejects duplicates.
 */
export function renderExposition(sources: readonly MetricsSource[]): string {
  const seen = new Set<string>()
  const labels = sources.map((s) => {
    const l = `cache="${esc(s.name)}",prefix="${esc(s.prefix)}"`
    if (seen.has(l)) {
      throw new CacheError(
        'E_INVALID_OPTION',
        `two caches export metrics as name "${s.name}", prefix "${s.prefix}": give each a distinct \`name\` option`,
      )
    }
    seen.add(l)
    return l
  })
  const lines: string[] = []
  const family = (name: string, help: string, type: string): void => {
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`)
  }
  for (const [field, name, help, type] of FAMILIES) {
    family(name, help, type)
    sources.forEach((s, i) => lines.push(`${name}{${labels[i]}} ${num(s.stats[field])}`))
  }
  family('ferrocache_up', '1 when the store answers a ping, else 0.', 'gauge')
  sources.forEach((s, i) => lines.push(`ferrocache_up{${labels[i]}} ${s.health.ok ? 1 : 0}`))
  family('ferrocache_ping_seconds', 'Last ping round trip in seconds (NaN when down).', 'gauge')
  sources.forEach((s, i) =>
    lines.push(
      `ferrocache_ping_seconds{${labels[i]}} ${s.health.ok ? num(s.health.latencyMs / 1000) : 'NaN'}`,
    ),
  )
  for (const [which, name, help] of HISTOGRAMS) {
    family(name, help, 'histogram')
    sources.forEach((s, i) => histogram(lines, name, labels[i], s.telemetry[which]))
  }
  const writers = sources.map((s) => s.telemetry.writers.byName())
  for (const [field, name, help, type] of WRITER_FAMILIES) {
    family(name, help, type)
    sources.forEach((_, i) => {
      for (const [writer, c] of writers[i])
        lines.push(`${name}{${labels[i]},writer="${esc(writer)}"} ${num(c[field])}`)
    })
  }
  const procs: [string, (p: ProcedureStats) => number, string][] = [
    ['ferrocache_trpc_hits_total', (p) => p.hits, 'tRPC cached procedure calls answered from the cache.'],
    ['ferrocache_trpc_misses_total', (p) => p.misses, 'tRPC cached procedure calls that ran the resolver.'],
    ['ferrocache_trpc_stale_served_total', (p) => p.staleServed, 'tRPC calls answered with a stale value.'],
    ['ferrocache_trpc_loads_total', (p) => p.loads, 'tRPC resolver runs for the cache.'],
    ['ferrocache_trpc_load_seconds_total', (p) => p.loadSeconds, 'Time spent in those resolver runs.'],
  ]
  for (const [name, pick, help] of procs) {
    family(name, help, 'counter')
    sources.forEach((s, i) => {
      for (const [path, p] of s.telemetry.procedures) {
        lines.push(`${name}{${labels[i]},procedure="${esc(path)}"} ${num(pick(p))}`)
      }
    })
  }
  return lines.join('\n') + '\n'
}

function histogram(lines: string[], name: string, labels: string, h: Histogram): void {
  for (const [le, count] of h.cumulative()) {
    lines.push(`${name}_bucket{${labels},le="${le === Infinity ? '+Inf' : String(le)}"} ${count}`)
  }
  lines.push(`${name}_sum{${labels}} ${num(h.sum)}`, `${name}_count{${labels}} ${h.count}`)
}
