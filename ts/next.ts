/**
 * `ferrocache/next`: Next.js's `cacheHandler` (ISR pages, route handlers, the fetch cache, images)
 * on a ferrocache `Cache`, for Next 15 and 16.
 *
 * Next does `new Handler(ctx)` for every request and in every build worker: the handler is a thin
 * object over one `Cache` per configuration for the whole process (see `cacheFor`).
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Cache } from './cache/cache'
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
} from './next/shared'

export { nextHandlerStats, optionsFromEnv } from './next/shared'
export type { NextHandlerOptions, NextHandlerStats } from './next/shared'

/** Header in which Next records a page's or route's tags (explicit and implicit). */
const TAGS_HEADER = 'x-next-cache-tags'
/** Entries live under this namespace of the cache, apart from the app's own keys. */
const KEY_PREFIX = 'isr:'
/** Kinds whose entries do not depend on the build (data, not markup that names a build's chunks). */
const BUILD_FREE = new Set(['FETCH', 'IMAGE'])

const buildIds = new Map<string, string>()

/**
 * The build ID of the app whose server output is in `serverDistDir` ('' when unknown). Pages and
 * route responses are kept per build: a page rendered by one build names that build's JS chunks,
 * so another build (the next deploy, or the old one during a rolling deploy) must not serve it.
 */
function buildIdOf(ctx: unknown): string {
  const dir = (ctx as { serverDistDir?: unknown } | undefined)?.serverDistDir
  if (typeof dir !== 'string') return ''
  let id = buildIds.get(dir)
  if (id === undefined) {
    try {
      id = readFileSync(join(dir, '..', 'BUILD_ID'), 'utf8').trim()
    } catch {
      id = ''
    }
    buildIds.set(dir, id)
  }
  return id
}

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
    private readonly pagePrefix: string

    // Next passes a context (fs, serverDistDir, revalidatedTags…): only the build is needed.
    constructor(ctx?: unknown) {
      const id = buildIdOf(ctx)
      this.pagePrefix = id === '' ? KEY_PREFIX : `${KEY_PREFIX}${id}:`
    }

    private keyOf(key: string, kind: unknown): string {
      return (typeof kind === 'string' && BUILD_FREE.has(kind) ? KEY_PREFIX : this.pagePrefix) + key
    }

    async get(key: string, ctx?: GetContext): Promise<NextCacheHandlerValue | null> {
      const c = cacheOf()
      const stored = await readEntry<Stored>(c, this.keyOf(key, ctx?.kind))
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
          await c.delete(this.keyOf(key, ctx?.fetchCache ? 'FETCH' : undefined))
        } catch {
          // A delete that cannot reach Valkey leaves an entry Next will replace on its next write.
        }
        return
      }
      const { marked, overflow } = splitTags(tagsOf(data, ctx))
      const stored: Stored = { v: data, lm: Date.now() }
      if (ctx?.cacheControl !== undefined) stored.cc = ctx.cacheControl
      if (overflow.length > 0) stored.ot = overflow
      await writeEntry(c, this.keyOf(key, data.kind), stored, ttlOf(ctx?.cacheControl?.expire), marked)
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
