/** The shapes a `getOrSet` flight works with: the loader, its plan, counters and trace. */
import type { LoaderContext } from './loader'

export type Loader = (ctx: LoaderContext) => unknown

/** The `getOrSet` counters, part of `stats()` (`CacheStats`). */
export interface FlightCounters {
  loads: number
  loadErrors: number
  coalesced: number
  lockWaits: number
  staleServed: number
  /** Refresh-ahead loads run by this process (background, under the lease). */
  refreshes: number
  /** Refresh-ahead loads that failed (the current value stayed in place). */
  refreshErrors: number
}

/** A resolved `getOrSet` plan (all times in ms). */
export interface Plan {
  ttlMs: number
  /** Marker keys of the entry's tags. */
  markers?: Buffer[]
  graceMs: number
  timeoutMs?: number
  lockTtlMs: number
  lockWaitMs: number
  hardTimeoutMs: number
  /** Refresh-ahead: a hit within this many ms of the entry's expiry starts a background refresh. */
  refreshWithinMs?: number
  /** Set per call when someone observes how it was answered (events, OpenTelemetry). */
  trace?: FlightTrace
}

/** How one `getOrSet` call was answered (features/telemetry.ts reads it). */
export interface FlightTrace {
  coalesced: boolean
  stale: boolean
}
