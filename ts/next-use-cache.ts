/**
 * `ferrocache/next/use-cache`: the `'use cache'` handler (`cacheHandlers`) for Next 16 and the V2
 * interface of Next 15 (`experimental.cacheHandlers`). Next never `new`s it: the default export is
 * the handler object.
 *
 * A value stream is read once on `set` and stored as bytes; every `get` returns a new stream over
 * them. Entries expire in Valkey after their `expire` (never kept past it).
 */
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

export { nextHandlerStats } from './next/shared'
export type { NextHandlerOptions, NextHandlerStats } from './next/shared'

/** Entries live under this namespace of the cache. */
const KEY_PREFIX = 'uc:'

/** Next's `'use cache'` entry (`next/dist/server/lib/cache-handlers/types`). */
export interface UseCacheEntry {
  value: ReadableStream<Uint8Array>
  tags: string[]
  stale: number
  timestamp: number
  expire: number
  revalidate: number
}

/** The handler object: Next 16's methods and Next 15's V2 ones. */
export interface UseCacheHandler {
  get(cacheKey: string, softTags?: string[]): Promise<UseCacheEntry | undefined>
  set(cacheKey: string, pendingEntry: Promise<UseCacheEntry>): Promise<void>
  refreshTags(): Promise<void>
  /** Next 16: `getExpiration(tags)`; Next 15: `getExpiration(...tags)`. */
  getExpiration(...tags: (string | string[])[]): Promise<number>
  /** Next 16. */
  updateTags(tags: string[], durations?: { expire?: number }): Promise<void>
  /** Next 15. */
  expireTags(...tags: string[]): Promise<void>
}

interface Stored {
  b: Uint8Array
  tags: string[]
  stale: number
  timestamp: number
  expire: number
  revalidate: number
  ot?: string[]
}

async function bytesOf(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  const chunks: Uint8Array[] = []
  let size = 0
  const reader = stream.getReader()
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    chunks.push(value)
    size += value.byteLength
  }
  const out = new Uint8Array(size)
  let at = 0
  for (const c of chunks) {
    out.set(c, at)
    at += c.byteLength
  }
  return out
}

function streamOf(bytes: Uint8Array): ReadableStream<Uint8Array> {
  return new ReadableStream<Uint8Array>({
    start(controller) {
      // A copy per stream: a reader may keep or change what it is given.
      controller.enqueue(bytes.slice())
      controller.close()
    },
  })
}

/**
 * A `'use cache'` handler object on the given cache (or one configured by `options`).
 *
 * @example
 * ```ts
 * // use-cache-handler.mjs, referenced as `cacheHandlers: { default: require.resolve('./use-cache-handler.mjs') }`
 * import { createUseCacheHandler } from 'ferrocache/next/use-cache'
 * import { cache } from './cache.mjs' // the app's Cache: one engine, one tag space
 * export default createUseCacheHandler({ cache })
 * ```
 */
export function createUseCacheHandler(options?: NextHandlerOptions): UseCacheHandler {
  let cache: Cache | undefined
  const cacheOf = (): Cache => (cache ??= cacheFor(options))
  // Sets in progress in this process: a `get` of the same key waits for them (Next's contract).
  // Only the handler's own completion promise is kept, never Next's pending entry.
  const pending = new Map<string, Promise<void>>()

  return {
    async get(cacheKey, softTags) {
      const p = pending.get(cacheKey)
      if (p !== undefined) await p
      const c = cacheOf()
      const s = await readEntry<Stored>(c, KEY_PREFIX + cacheKey)
      if (s === undefined || typeof s !== 'object' || s === null || !(s.b instanceof Uint8Array))
        return undefined
      if (Date.now() > s.timestamp + s.expire * 1000) return undefined
      const late = tagList([softTags ?? [], s.ot ?? []])
      if (late.length > 0 && (await lastInvalidated(c, late)) > s.timestamp) return undefined
      return {
        value: streamOf(s.b),
        tags: s.tags,
        stale: s.stale,
        timestamp: s.timestamp,
        expire: s.expire,
        revalidate: s.revalidate,
      }
    },

    async set(cacheKey, pendingEntry) {
      let done!: () => void
      const mine = new Promise<void>((r) => (done = r))
      pending.set(cacheKey, mine)
      try {
        const entry = await pendingEntry
        // `expire: 0` is a dynamic entry: Next regenerates it on every read, storing it is waste.
        if (!(entry.expire > 0)) return
        const b = await bytesOf(entry.value)
        const tags = tagList(entry.tags ?? [])
        const { marked, overflow } = splitTags(tags)
        const stored: Stored = {
          b,
          tags,
          stale: entry.stale,
          timestamp: entry.timestamp,
          expire: entry.expire,
          revalidate: entry.revalidate,
        }
        if (overflow.length > 0) stored.ot = overflow
        // Never kept past `expire`, counted from the entry's own timestamp.
        const left = (entry.timestamp + entry.expire * 1000 - Date.now()) / 1000
        if (left <= 0) return
        await writeEntry(cacheOf(), KEY_PREFIX + cacheKey, stored, ttlOf(left), marked)
      } catch {
        // A value stream that errored: nothing is stored, the next read renders again.
      } finally {
        if (pending.get(cacheKey) === mine) pending.delete(cacheKey)
        done()
      }
    },

    async refreshTags() {
      // Tags are checked in Valkey on every read: there is no local manifest to refresh.
    },

    async getExpiration(...tags) {
      return lastInvalidated(cacheOf(), tagList(tags))
    },

    async updateTags(tags, _durations) {
      await invalidate(cacheOf(), tagList(tags))
    },

    async expireTags(...tags) {
      await invalidate(cacheOf(), tagList(tags))
    },
  }
}

/**
 * The `'use cache'` handler configured from the environment (as `ferrocache/next`).
 *
 * @example
 * ```js
 * // next.config.js (Next 16; on Next 15 put cacheHandlers under `experimental`)
 * module.exports = {
 *   cacheHandlers: { default: require.resolve('ferrocache/next/use-cache') },
 *   serverExternalPackages: ['ferrocache'],
 * }
 * ```
 */
const useCacheHandler: UseCacheHandler = createUseCacheHandler()
export default useCacheHandler
