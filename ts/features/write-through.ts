/**
 * Write-through: the source of truth first, the cache only after it succeeded. The cache write
 * runs under the key's getOrSet lease, so a load that started before the write (and may have read
 * the old row) finishes and stores first, and the written value lands after it: the older value
 * never stays cached. If caching fails, the key is invalidated (retried in the background until
 * Valkey accepts it), so the old value is not served once Valkey answers again.
 */
import type { Cache, SetOptions } from '../cache'
import { InvalidKeyError, InvalidOptionError, InvalidValueError } from '../core/errors'

/** Counters of write-through (merged into `stats()`). */
export interface WriteThroughCounters {
  /** Writes whose caching failed after the source was written (the key was invalidated). */
  writeThroughErrors: number
}

/** Lease and wait for the cache write, ms: as getOrSet's defaults. */
const LEASE_MS = 5000
const WAIT_MS = 10_000
/** Backoff of a failed invalidation: doubling from 100 ms up to 5 s, until it succeeds or close. */
const RETRY_FIRST_MS = 100
const RETRY_MAX_MS = 5000

export async function writeThrough<T>(
  cache: Cache,
  key: string,
  value: T,
  write: (value: T) => unknown,
  opts: SetOptions | undefined,
  hooks: {
    counters: WriteThroughCounters
    underLease: <R>(fullKey: string, lockTtlMs: number, waitMs: number, fn: () => Promise<R>) => Promise<R>
  },
): Promise<void> {
  if (typeof key !== 'string' || key === '')
    throw new InvalidKeyError('writeThrough(key, …): key must be a non-empty string')
  if (typeof write !== 'function')
    throw new InvalidOptionError('writeThrough(key, value, write): write must be a function')
  if (value === undefined) throw new InvalidValueError('writeThrough: undefined is not storable; use null')
  await write(value) // the source of truth: its error is the caller's, and the cache is untouched
  try {
    await hooks.underLease(cache.prefix + key, LEASE_MS, WAIT_MS, () => cache.set(key, value, opts))
  } catch {
    hooks.counters.writeThroughErrors++
    await invalidate(cache, key, RETRY_FIRST_MS)
  }
}

/**
 * Deletes the key; resolves after the first attempt. A failed attempt is retried with backoff
 * (timers unref'd) until it succeeds or the cache closes.
 */
function invalidate(cache: Cache, key: string, backoffMs: number): Promise<void> {
  return cache.delete(key).then(
    () => {},
    (e: { code?: string }) => {
      if (e?.code === 'E_CLOSED') return
      const t = setTimeout(
        () => void invalidate(cache, key, Math.min(backoffMs * 2, RETRY_MAX_MS)),
        backoffMs,
      )
      t.unref()
    },
  )
}
