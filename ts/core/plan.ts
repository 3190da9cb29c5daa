/** Turns per-call options (`set`, `getOrSet`) into checked numbers in milliseconds. */
import { InvalidOptionError } from './errors'
import { ttlToMs, type ResolvedOptions } from './options'
import type { Plan } from '../features/single-flight'
import { markerKeys } from '../features/tags'

/** Options of `set` (and of each `setMany` entry). */
export interface SetOptions {
  /** Time to live in seconds (default: the cache's `ttl`, 300). */
  ttl?: number
  /** Tags for `invalidateTags`. Entries carrying tags live at most `tagTtl` (default 7 days). */
  tags?: string[]
}

/** Options of `getOrSet`. Times: `ttl`/`grace` in seconds, `*Ms` in milliseconds. */
export interface GetOrSetOptions {
  /** Time to live of the loaded value, in seconds (default: the cache's `ttl`). */
  ttl?: number
  /** Tags of the loaded value (the loader may replace them with `ctx.setTags`). */
  tags?: string[]
  /**
   * Seconds an expired (or tag-invalidated) value may still be served: while one refresh runs
   * (stale-while-revalidate), and when the loader fails or Valkey is down (fail-safe). Default 0.
   */
  grace?: number
  /**
   * Soft timeout in ms: with a stale value at hand and a slower loader, return the stale value
   * after this long and let the load finish in the background.
   */
  timeoutMs?: number
  /** Lease of the cross-process lock, in ms, renewed while the loader runs (default 5000). */
  lockTtlMs?: number
  /** Longest wait for another process's load, in ms, before `E_LOCK_TIMEOUT` or the stale value (default 10000). */
  lockWaitMs?: number
  /** A loader still pending after this many ms is abandoned with `E_TIMEOUT` (default 30000). */
  hardTimeoutMs?: number
  /**
   * Refresh-ahead, `0 < r < 1`: a hit on an entry older than `r × ttl` returns at once and starts
   * one background refresh (one across processes, under the getOrSet lease). Default off.
   */
  refreshAhead?: number
}

/** A checked write: lifetime in ms and the marker keys of its tags. */
export interface Write {
  ttlMs: number
  markers?: string[]
}

export function writeOf(o: SetOptions | undefined, opts: ResolvedOptions): Write {
  if (o === undefined) return { ttlMs: opts.ttlMs }
  let ttlMs = o.ttl === undefined ? opts.ttlMs : ttlToMs('ttl', o.ttl)
  if (o.tags === undefined) return { ttlMs }
  const markers = markerKeys(opts.prefix, o.tags)
  if (markers.length > 0) ttlMs = Math.min(ttlMs, opts.tagTtlMs)
  return { ttlMs, markers }
}

function ms(name: string, v: unknown, d: number): number {
  if (v === undefined) return d
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) {
    throw new InvalidOptionError(`option \`${name}\` must be a number of milliseconds > 0, got ${String(v)}`)
  }
  return Math.ceil(v)
}

export function planOf(o: GetOrSetOptions | undefined, opts: ResolvedOptions): Plan {
  const w = writeOf(o, opts)
  return {
    ttlMs: w.ttlMs,
    markers: w.markers,
    graceMs: o?.grace === undefined ? 0 : ttlToMs('grace', o.grace),
    timeoutMs: o?.timeoutMs === undefined ? undefined : ms('timeoutMs', o.timeoutMs, 0),
    lockTtlMs: ms('lockTtlMs', o?.lockTtlMs, 5000),
    lockWaitMs: ms('lockWaitMs', o?.lockWaitMs, 10_000),
    hardTimeoutMs: ms('hardTimeoutMs', o?.hardTimeoutMs, 30_000),
    refreshWithinMs: refreshWithin(o?.refreshAhead, w.ttlMs),
  }
}

/** Refresh-ahead as "the last ms of the entry's life in which a hit refreshes it". */
function refreshWithin(r: unknown, ttlMs: number): number | undefined {
  if (r === undefined) return undefined
  if (typeof r !== 'number' || !(r > 0 && r < 1)) {
    throw new InvalidOptionError(
      `option \`refreshAhead\` must be a fraction of the ttl between 0 and 1 (exclusive), e.g. 0.8; got ${String(r)}`,
    )
  }
  if (!Number.isFinite(ttlMs) || ttlMs <= 0) return undefined // no expiry: nothing to refresh ahead of
  return (1 - r) * ttlMs
}
