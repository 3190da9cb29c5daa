/**
 * `ferrocache/next`: Next.js's `cacheHandler` (ISR pages, route handlers, the fetch cache, images)
 * on a ferrocache `Cache`, for Next 15 and 16.
 *
 * Next does `new Handler(ctx)` for every request and in every build worker: the handler is a thin
 * object over one `Cache` per configuration for the whole process (see `cacheFor`).
 */
import type { Cache } from './cache'
import {
  cacheFor,
  invalidate,
  lastInvalidated,
  readEntry,
  splitTags,
  tagList,
  ttlOf,
  writeEntry,
  type NextHandlerOptions,
} from './next-shared'

export { nextHandlerStats, optionsFromEnv } from './next-shared'
export type { NextHandlerOptions, NextHandlerStats } from './next-shared'

/** Header in which Next records a page's or route's tags (explicit and implicit). */
const TAGS_HEADER = 'x-next-cache-tags'
/** Entries live under this namespace of the cache, apart from the app's own keys. */
const KEY_PREFIX = 'isr:'

/** What `get` resolves: the shape Next's `CacheHandlerValue` has. */
export interface NextCacheHandlerValue {
  lastModified: number
  age?: number
  cacheState?: string
  value: NextCacheValue | null
  cacheControl?: { revalidate: number | false; expire: number | undefined }
}

/** Any of Next's incremental cache values (`kind`: APP_PAGE, APP_ROUTE, PAGES, FETCH, REDIRECT, IMAGE). */
export type NextCacheValue = { kind: string; [field: string]: unknown }

/** What is stored per entry. */
interface Stored {
  /** Next's value, as given (Buffers and Maps round-trip through the structured codec). */
  v: NextCacheValue
  /** When it was written (ms since the epoch). */
  lm: number
  /** The `cacheControl` `set` was given (Next 16 needs it back from `get`). */
  cc?: NextCacheHandlerValue['cacheControl']
  /** Tags that did not fit as markers: checked against tag times on read. */
  ot?: string[]
}

interface GetContext {
  kind?: string
  tags?: string[]
  softTags?: string[]
  [field: string]: unknown
}

interface SetContext {
  tags?: string[]
  cacheControl?: NextCacheHandlerValue['cacheControl']
  revalidate?: number | false
  fetchCache?: boolean
  [field: string]: unknown
}

/** The tags a value carries: page/route tags in its header, fetch tags in `ctx.tags` or the value. */
function tagsOf(value: NextCacheValue, ctx: SetContext | undefined): string[] {
  const headers = value.headers as Record<string, unknown> | undefined
  const header = headers?.[TAGS_HEADER]
  const fromHeader = typeof header === 'string' ? header.split(',') : Array.isArray(header) ? header : []
  return tagList([fromHeader, ctx?.tags ?? [], (value.tags as string[] | undefined) ?? []])
}

/** The handler class for this cache: what `createCacheHandler` returns. */
export type NextCacheHandlerClass = new (ctx?: unknown) => NextCacheHandler

/** One handler object (Next makes one per request); every method goes to the shared `Cache`. */
export interface NextCacheHandler {
  get(key: string, ctx?: GetContext): Promise<NextCacheHandlerValue | null>
  set(key: string, data: NextCacheValue | null, ctx?: SetContext): Promise<void>
  revalidateTag(tags: string | string[], durations?: { expire?: number }): Promise<void>
  resetRequestCache(): void
}

/**
 * A `cacheHandler` class for Next 15 and 16 on the given cache (or one configured by `options`).
 * Pass the app's own `Cache` to share one engine and one tag space with it.
 *
 * @example
 * ```ts
 * // cache-handler.mjs, referenced as `cacheHandler: require.resolve('./cache-handler.mjs')`
 * import { Cache } from 'ferrocache'
 * import { createCacheHandler } from 'ferrocache/next'
 * export const cache = new Cache({ url: process.env.VALKEY_URL, prefix: 'next:' })
 * export default createCacheHandler({ cache })
 * ```
 */
export function createCacheHandler(options?: NextHandlerOptions): NextCacheHandlerClass {
  let cache: Cache | undefined
  // Made on first use, not at import: `next build` imports handlers in places that never use them.
  const cacheOf = (): Cache => (cache ??= cacheFor(options))

  return class FerrocacheHandler implements NextCacheHandler {
    // Next passes a context (fs, serverDistDir, revalidatedTags…); nothing in it is needed here.
    constructor(_ctx?: unknown) {}

    async get(key: string, ctx?: GetContext): Promise<NextCacheHandlerValue | null> {
      const c = cacheOf()
      const stored = await readEntry<Stored>(c, KEY_PREFIX + key)
      if (stored === undefined || typeof stored !== 'object' || stored === null || !stored.v) return null
      // Tags recorded as markers were checked by the engine; soft tags (and tags past the marker
      // limit) are checked against the times of their invalidations.
      const late = tagList([ctx?.softTags ?? [], stored.ot ?? []])
      if (late.length > 0 && (await lastInvalidated(c, late)) >= stored.lm) return null
      const out: NextCacheHandlerValue = { lastModified: stored.lm, value: stored.v }
      if (stored.cc !== undefined) out.cacheControl = stored.cc
      return out
    }

    async set(key: string, data: NextCacheValue | null, ctx?: SetContext): Promise<void> {
      const c = cacheOf()
      if (data === null || data === undefined) {
        try {
          await c.delete(KEY_PREFIX + key)
        } catch {
          // A delete that cannot reach Valkey leaves an entry Next will replace on its next write.
        }
        return
      }
      const { marked, overflow } = splitTags(tagsOf(data, ctx))
      const stored: Stored = { v: data, lm: Date.now() }
      if (ctx?.cacheControl !== undefined) stored.cc = ctx.cacheControl
      if (overflow.length > 0) stored.ot = overflow
      await writeEntry(c, KEY_PREFIX + key, stored, ttlOf(ctx?.cacheControl?.expire), marked)
    }

    /** Next 16 passes `durations`; the entries are made stale at once either way (fresh on next read). */
    async revalidateTag(tags: string | string[], _durations?: { expire?: number }): Promise<void> {
      await invalidate(cacheOf(), tagList(tags))
    }

    resetRequestCache(): void {}
  }
}

/**
 * The `cacheHandler` for Next 15 and 16, configured from the environment: `FERROCACHE_URL` or
 * `VALKEY_URL` (one node), `FERROCACHE_NODES` (comma-separated cluster seeds), `FERROCACHE_PREFIX`
 * (default `'next:'`). Valkey down: reads are misses (pages render from the app), writes are
 * dropped and counted (`nextHandlerStats()`).
 *
 * @example
 * ```js
 * // next.config.js
 * module.exports = {
 *   cacheHandler: require.resolve('ferrocache/next'),
 *   cacheMaxMemorySize: 0, // keep every entry in Valkey, shared by all instances
 *   serverExternalPackages: ['ferrocache'],
 * }
 * ```
 */
const CacheHandler: NextCacheHandlerClass = createCacheHandler()
export default CacheHandler
export { CacheHandler }
