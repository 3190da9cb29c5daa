/** Turns per-call options (`set`, `getOrSet`) into checked numbers in milliseconds. */
import { DEFAULT_HARD_TIMEOUT_MS, DEFAULT_LOCK_TTL_MS, DEFAULT_LOCK_WAIT_MS, MAX_CALL_MS } from './defaults'
import { InvalidOptionError } from './errors'
import { ttlToMs, type ResolvedOptions } from './options'
import type { Plan } from '../features/single-flight'
import { markerKeys } from '../features/tags'

/** Options of `set` (and of each `setMany` entry). */
export interface SetOptions {
  /**
   * Time to live in seconds (default: the cache's `ttl`, 300): a number > 0 and at most 100 years,
   * or `Infinity` for no expiry (entries with tags still live at most `tagTtl`).
   */
  ttl?: number
  /** Tags for `invalidateTags`. Entries carrying tags live at most `tagTtl` (default 7 days). */
  tags?: string[]
}

/** Options of `getOrSet`. Times: `ttl`/`grace` in seconds, `*Ms` in milliseconds. */
export interface GetOrSetOptions {
  /**
   * Time to live of the loaded value, in seconds (default: the cache's `ttl`); `Infinity`: no
   * expiry (with tags: at most `tagTtl`).
   */
  ttl?: number
  /** Tags of the loaded value (the loader may replace them with `ctx.setTags`). */
  tags?: string[]
  /**
   * Seconds an expired (or tag-invalidated) value may still be served: while one refresh runs
   * (stale-while-revalidate), and when the loader fails or Valkey is down (fail-safe). Default 0
   * (no grace); at most 100 years.
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

/** A checked write: lifetime in ms (`Infinity`: no expiry) and the marker keys of its tags. */
export interface Write {
  ttlMs: number
  markers?: Buffer[]
}

const SET_OPTIONS = new Set(['ttl', 'tags'])
const GET_OR_SET_OPTIONS = new Set([
  'ttl',
  'tags',
  'grace',
  'timeoutMs',
  'lockTtlMs',
  'lockWaitMs',
  'hardTimeoutMs',
  'refreshAhead',
])
/** A `setMany` entry carries its key and value next to its options. */
const ENTRY_FIELDS = new Set(['key', 'value', 'ttl', 'tags'])

/**
 * Per-call options get the constructor's treatment: an object (or undefined), known names only
 * (a misspelt `tll` would otherwise silently store with the default ttl), checked values.
 */
function checkShape(
  o: unknown,
  known: ReadonlySet<string>,
  what: string,
): Record<string, unknown> | undefined {
  if (o === undefined) return undefined
  if (typeof o !== 'object' || o === null || Array.isArray(o)) {
    throw new InvalidOptionError(
      `the options of ${what} must be an object like { ttl: 60 } or left out, got ${o === null ? 'null' : Array.isArray(o) ? 'an array' : typeof o}`,
    )
  }
  for (const k of Object.keys(o)) {
    if (!known.has(k)) {
      throw new InvalidOptionError(
        `option \`${k}\` is not an option of ${what} (known: ${[...known].join(', ')}; check the spelling)`,
      )
    }
  }
  return o as Record<string, unknown>
}

function write(o: Record<string, unknown> | undefined, opts: ResolvedOptions): Write {
  if (o === undefined) return { ttlMs: opts.ttlMs }
  let ttlMs = o.ttl === undefined ? opts.ttlMs : ttlToMs('ttl', o.ttl, true)
  if (o.tags === undefined) return { ttlMs }
  const markers = markerKeys(opts.prefix, o.tags)
  if (markers.length > 0) ttlMs = Math.min(ttlMs, opts.tagTtlMs)
  return { ttlMs, markers }
}

/** Checks the options of `set`. */
export function writeOf(o: SetOptions | undefined, opts: ResolvedOptions): Write {
  return write(checkShape(o, SET_OPTIONS, 'set(key, value, options)'), opts)
}

/** Checks one `setMany` entry's options (the entry itself is the options object). */
export function entryWriteOf(e: object, i: number, opts: ResolvedOptions): Write {
  return write(checkShape(e, ENTRY_FIELDS, `setMany entry ${i}`), opts)
}

function ms(name: string, v: unknown, d: number): number {
  if (v === undefined) return d
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0 || v > MAX_CALL_MS) {
    throw new InvalidOptionError(
      `option \`${name}\` must be a number of milliseconds > 0 and at most ${MAX_CALL_MS}, got ${String(v)}`,
    )
  }
  return Math.ceil(v)
}

export function planOf(options: GetOrSetOptions | undefined, opts: ResolvedOptions): Plan {
  const o = checkShape(options, GET_OR_SET_OPTIONS, 'getOrSet(key, loader, options)')
  const w = write(o, opts)
  // `grace: 0` is the documented default: no grace.
  const grace = o?.grace === undefined || o.grace === 0 ? 0 : ttlToMs('grace', o.grace)
  return {
    ttlMs: w.ttlMs,
    markers: w.markers,
    graceMs: grace,
    timeoutMs: o?.timeoutMs === undefined ? undefined : ms('timeoutMs', o.timeoutMs, 0),
    lockTtlMs: ms('lockTtlMs', o?.lockTtlMs, DEFAULT_LOCK_TTL_MS),
    lockWaitMs: ms('lockWaitMs', o?.lockWaitMs, DEFAULT_LOCK_WAIT_MS),
    hardTimeoutMs: ms('hardTimeoutMs', o?.hardTimeoutMs, DEFAULT_HARD_TIMEOUT_MS),
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
