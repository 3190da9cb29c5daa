/**
 * Every default and bound of the options, in one place (seconds for `ttl`/`grace`, ms for `*Ms`).
 * README's options table and the TSDoc on each option name these values.
 */

/** Default time to live of an entry, seconds. */
export const DEFAULT_TTL_SECONDS = 300
/**
 * Longest finite `ttl`/`grace`/`tagTtl` accepted, seconds (100 years). Larger finite numbers are
 * rejected instead of being passed on: Valkey refuses expiries past 2^63 ms, and a huge number
 * must never silently mean "no expiry" — `ttl: Infinity` says that.
 */
export const MAX_TTL_SECONDS = 100 * 365 * 24 * 3600
/** Default grace of `getOrSet`, seconds: none. */
export const DEFAULT_GRACE_SECONDS = 0
/** How long a tag invalidation is remembered, seconds (7 days). */
export const DEFAULT_TAG_TTL_SECONDS = 7 * 24 * 3600
/** getOrSet lock lease, ms (renewed while the loader runs). */
export const DEFAULT_LOCK_TTL_MS = 5000
/** Longest wait for another process's load, ms. */
export const DEFAULT_LOCK_WAIT_MS = 10_000
/** A loader still pending after this long is abandoned, ms. */
export const DEFAULT_HARD_TIMEOUT_MS = 30_000
/** Longest `*Ms` option of a call, ms (one day). */
export const MAX_CALL_MS = 24 * 3600 * 1000

export const DEFAULT_PREFIX = 'fc:'
export const DEFAULT_POOL_SIZE = 1
export const DEFAULT_COMPRESSION_THRESHOLD = 1024
export const DEFAULT_COMMAND_TIMEOUT_MS = 500
export const DEFAULT_CONNECT_TIMEOUT_MS = 1000
export const DEFAULT_MAX_VALUE_BYTES = 16 * 1024 * 1024
export const DEFAULT_MAX_KEY_BYTES = 4096
export const DEFAULT_MEMORY_MAX_BYTES = 64 * 1024 * 1024
export const DEFAULT_IO_POLL_US = 100
/** Sequential requests use the JS thread's own connection (see `directSocket`). */
export const DEFAULT_DIRECT_SOCKET = true

export const DEFAULT_L1_MAX_ENTRIES = 10_000
export const DEFAULT_L1_MAX_BYTES = 32 * 1024 * 1024
export const DEFAULT_L1_TTL_SECONDS = 60
/**
 * Longest time the first reads of a fresh cache with `l1` wait for the bus subscription, ms
 * (capped by `commandTimeoutMs`). See `Shared.l1Gate` for why they wait at all.
 */
export const L1_BUS_WAIT_MS = 100
