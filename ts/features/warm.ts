/**
 * Cache warming: loads many entries through `getOrSet` (so its single-flight and lease apply: a
 * warm racing live traffic, or another process's warm, never loads a key twice), with bounded
 * concurrency, pulling from the source only when a slot is free (bounded memory for a million rows
 * streamed from a database cursor).
 */
import type { Cache } from '../cache'
import { InvalidOptionError } from '../core/errors'
import type { LoaderContext } from './loader'

/** One entry to warm. */
export interface WarmEntry {
  key: string
  loader: (ctx: LoaderContext) => unknown
  /** Seconds (default: the cache's `ttl`). */
  ttl?: number
  tags?: string[]
}

/** Progress so far: `done = loaded + skipped + failed`. */
export interface WarmProgress {
  done: number
  loaded: number
  skipped: number
  failed: number
}

export interface WarmOptions {
  /** Loads in flight at once (default 8). */
  concurrency?: number
  /** Reload keys already present (default: skip them). */
  force?: boolean
  /** Called after each entry. An exception thrown here is ignored (it must not stop the warm). */
  onProgress?: (p: WarmProgress) => void
}

export interface WarmReport {
  /** Entries whose loader ran here. */
  loaded: number
  /** Entries already present (or loaded meanwhile by another caller or process). */
  skipped: number
  /** Entries whose loader (or whose key, ttl or tags) failed; never thrown. */
  failed: { key: string; error: unknown }[]
}

/** Default number of loads in flight. */
export const WARM_CONCURRENCY = 8

export async function warm(
  cache: Cache,
  entries: Iterable<WarmEntry> | AsyncIterable<WarmEntry>,
  opts: WarmOptions = {},
): Promise<WarmReport> {
  const concurrency = opts.concurrency ?? WARM_CONCURRENCY
  if (!Number.isInteger(concurrency) || concurrency < 1) {
    throw new InvalidOptionError(`warm: concurrency must be an integer ≥ 1, got ${String(opts.concurrency)}`)
  }
  const it = iteratorOf(entries)
  const report: WarmReport = { loaded: 0, skipped: 0, failed: [] }
  const progress = (): void => {
    if (opts.onProgress === undefined) return
    const { loaded, skipped } = report
    const failed = report.failed.length
    try {
      opts.onProgress({ done: loaded + skipped + failed, loaded, skipped, failed })
    } catch {
      // a progress callback must not stop the warm
    }
  }
  // Pulls are serialized: a hand-written async iterator need not support concurrent next().
  let pulling: Promise<unknown> = Promise.resolve()
  const pull = (): Promise<IteratorResult<WarmEntry>> => {
    const next = pulling.then(() => it.next())
    pulling = next.catch(() => {})
    return next
  }
  const one = async (e: WarmEntry): Promise<void> => {
    const key = typeof e === 'object' && e !== null ? e.key : undefined
    try {
      if (typeof e !== 'object' || e === null || typeof e.loader !== 'function') {
        throw new InvalidOptionError('warm: each entry is { key, loader, ttl?, tags? }')
      }
      let ran = false
      const loader = (ctx: LoaderContext): unknown => {
        ran = true
        return e.loader(ctx)
      }
      const o = { ttl: e.ttl, tags: e.tags }
      // Forced: loaded under the lease even when present (readers keep the current value meanwhile).
      if (opts.force) ran = await cache._reload(e.key, e.loader, o)
      else await cache.getOrSet(e.key, loader, o)
      if (ran) report.loaded++
      else report.skipped++
    } catch (error) {
      report.failed.push({ key: String(key), error })
    }
    progress()
  }
  let broken: { error: unknown } | undefined
  const worker = async (): Promise<void> => {
    while (broken === undefined) {
      let r: IteratorResult<WarmEntry>
      try {
        r = await pull()
      } catch (error) {
        broken = { error }
        return
      }
      if (r.done) return
      await one(r.value)
    }
  }
  await Promise.all(Array.from({ length: concurrency }, worker))
  if (broken !== undefined) throw broken.error // the source itself failed: not an entry's error
  return report
}

function iteratorOf(
  entries: Iterable<WarmEntry> | AsyncIterable<WarmEntry>,
): Iterator<WarmEntry> | AsyncIterator<WarmEntry> {
  const src = entries as Partial<Iterable<WarmEntry> & AsyncIterable<WarmEntry>> | null
  const asyncIt = src?.[Symbol.asyncIterator]
  if (typeof asyncIt === 'function') return asyncIt.call(src)
  const it = src?.[Symbol.iterator]
  if (typeof it === 'function') return it.call(src)
  throw new InvalidOptionError(
    'warm(entries): entries must be an iterable or async iterable of { key, loader }',
  )
}
