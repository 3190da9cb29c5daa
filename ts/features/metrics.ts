/** Counters since the cache started (shared by all namespaces of one `Cache`). */
export interface CacheStats {
  hits: number
  misses: number
  l1Hits: number
  l2Hits: number
  sets: number
  deletes: number
  loads: number
  loadErrors: number
  coalesced: number
  lockWaits: number
  staleServed: number
  /** Refresh-ahead loads run by this process. */
  refreshes: number
  /** Refresh-ahead loads that failed (the current value stayed in place). */
  refreshErrors: number
  /** writeThrough calls whose caching failed after the source was written (key invalidated). */
  writeThroughErrors: number
  errors: number
  bytesWritten: number
  bytesRead: number
  compressedWrites: number
  /** Messages on the bus channel that were not valid ferrocache messages (dropped, never thrown). */
  badBusMessages: number
  /** hits / (hits + misses), 0 when nothing was read. */
  hitRate: number
}

/** Result of `health()`. */
export interface HealthReport {
  ok: boolean
  latencyMs: number
  mode: 'memory' | 'standalone' | 'cluster'
  error?: string
}

const HELP: Record<string, [string, 'counter' | 'gauge']> = {
  hits: ['Reads that found a value.', 'counter'],
  misses: ['Reads that found nothing (including unreadable values).', 'counter'],
  l1Hits: ['Reads served by the in-process tier.', 'counter'],
  l2Hits: ['Reads served by Valkey (or the memory store).', 'counter'],
  sets: ['Values written.', 'counter'],
  deletes: ['Keys deleted.', 'counter'],
  loads: ['Loader calls made by getOrSet.', 'counter'],
  loadErrors: ['Loader calls that failed.', 'counter'],
  coalesced: ['getOrSet calls that shared another call’s load.', 'counter'],
  lockWaits: ['getOrSet calls that waited for another process’s load.', 'counter'],
  staleServed: ['Stale values served within grace.', 'counter'],
  errors: ['Failed operations (connection, timeout, corrupt values).', 'counter'],
  bytesWritten: ['Bytes of keys and stored values written.', 'counter'],
  bytesRead: ['Bytes of stored values read.', 'counter'],
  compressedWrites: ['Values stored lz4-compressed.', 'counter'],
  badBusMessages: ['Bus messages dropped as malformed or foreign.', 'counter'],
  hitRate: ['hits / (hits + misses).', 'gauge'],
}

function snake(name: string): string {
  return name.replace(/[A-Z]/g, (c) => '_' + c.toLowerCase())
}

/** Renders stats and health in the Prometheus text exposition format (version 0.0.4). */
export function renderMetrics(stats: CacheStats, health: HealthReport, prefix: string): string {
  const label = `{prefix="${prefix.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"}`
  const lines: string[] = []
  for (const [key, [help, type]] of Object.entries(HELP)) {
    const name = `ferrocache_${snake(key)}${type === 'counter' ? '_total' : ''}`
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`)
    lines.push(`${name}${label} ${stats[key as keyof CacheStats]}`)
  }
  lines.push('# HELP ferrocache_up 1 when the store answers a ping.', '# TYPE ferrocache_up gauge')
  lines.push(`ferrocache_up${label} ${health.ok ? 1 : 0}`)
  lines.push(
    '# HELP ferrocache_ping_ms Last ping round trip in milliseconds.',
    '# TYPE ferrocache_ping_ms gauge',
  )
  lines.push(`ferrocache_ping_ms${label} ${health.ok ? health.latencyMs : 'NaN'}`)
  return lines.join('\n') + '\n'
}
