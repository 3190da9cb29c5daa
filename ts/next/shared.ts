/**
 * What the two Next.js handlers share: one `Cache` per configuration for the whole process
 * (Next creates a `cacheHandler` per request and re-runs modules on every edit under `next dev`,
 * so the engine lives on `globalThis`), configuration from the environment, and the tag space.
 *
 * Tags: every Next tag (explicit, the implicit `_N_T_/…` tags in page headers, soft tags) uses the
 * same per-tag marker as `Cache.invalidateTags`, so invalidation is O(1) per tag and seen by every
 * instance. Soft tags only reach a handler on `get` (never on `set`), so they cannot be recorded in
 * the entry: for them, an invalidation also writes the tag's time (one key per invalidated tag,
 * expiring after `tagTtl`), and `get` compares it with the entry's time — as Next's own handlers do.
 */
import { Cache } from '../cache/cache'
import { InvalidOptionError } from '../core/errors'
import type { CacheOptions } from '../core/options'
import { MAX_TAGS } from '../features/tags'

/** Options of `createCacheHandler` / `createUseCacheHandler`. */
export interface NextHandlerOptions extends CacheOptions {
  /** Use this cache (and its connections, prefix and tag space) instead of making one. */
  cache?: Cache
}

/** Longest time a Next entry is kept when Next gives no `expire`: 7 days (also the default `tagTtl`). */
export const DEFAULT_NEXT_TTL_S = 7 * 24 * 3600
/** Prefix of the cache made from the environment. */
export const DEFAULT_NEXT_PREFIX = 'next:'
/** Invalidations that fail are tried again this many times, this far apart (ms), then dropped. */
const INVALIDATE_RETRIES = [50, 250]
/** Tags per `invalidateTags` call (its own limit is 10,000). */
const TAG_BATCH = 5_000
/** Key (under the cache's prefix) holding the time a tag was last invalidated through Next. */
const tagTimeKey = (tag: string): string => `\u0000tagtime:${tag}`

/** Counters of the Next handlers (per process, all handlers together). */
export interface NextHandlerStats {
  /** Writes dropped because Valkey was unreachable, stalled or refused them. */
  droppedWrites: number
  /** Tag invalidations given up after retries (Valkey unreachable). */
  droppedInvalidations: number
  /** Reads that failed and were answered as a miss. */
  failedReads: number
}

interface Registry {
  caches: Map<string, Cache>
  stats: NextHandlerStats
  warned: Set<string>
}

const REGISTRY = Symbol.for('ferrocache.next.registry')

function registry(): Registry {
  const g = globalThis as unknown as Record<symbol, Registry | undefined>
  let r = g[REGISTRY]
  if (r === undefined) {
    r = {
      caches: new Map(),
      stats: { droppedWrites: 0, droppedInvalidations: 0, failedReads: 0 },
      warned: new Set(),
    }
    g[REGISTRY] = r
  }
  return r
}

/** Counters of the Next handlers in this process. */
export function nextHandlerStats(): NextHandlerStats {
  return { ...registry().stats }
}

export function count(what: keyof NextHandlerStats): void {
  registry().stats[what]++
}

/** Logs one line per kind of problem per process (a down Valkey must not flood the logs). */
export function warnOnce(kind: string, message: string): void {
  const r = registry()
  if (r.warned.has(kind)) return
  r.warned.add(kind)
  console.warn(`[ferrocache/next] ${message}`)
}

/** Cache options from the environment: FERROCACHE_URL or VALKEY_URL, FERROCACHE_NODES, FERROCACHE_PREFIX. */
export function optionsFromEnv(env: NodeJS.ProcessEnv = process.env): CacheOptions {
  const url = env.FERROCACHE_URL || env.VALKEY_URL || undefined
  const nodes = (env.FERROCACHE_NODES ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
  if (url !== undefined && nodes.length > 0) {
    throw new InvalidOptionError(
      'ferrocache/next: set FERROCACHE_URL (one node) or FERROCACHE_NODES (a cluster), not both',
    )
  }
  const o: CacheOptions = { prefix: env.FERROCACHE_PREFIX ?? DEFAULT_NEXT_PREFIX }
  if (url !== undefined) o.url = url
  if (nodes.length > 0) o.nodes = nodes
  if (url === undefined && nodes.length === 0) {
    warnOnce(
      'no-url',
      'FERROCACHE_URL / VALKEY_URL is not set: Next entries are kept in this process only (not shared)',
    )
  }
  return o
}

/** The cache for these options: the one given, or one per configuration for the whole process. */
export function cacheFor(options: NextHandlerOptions | undefined): Cache {
  if (options?.cache !== undefined) {
    if (!(options.cache instanceof Cache) && typeof (options.cache as Cache).invalidateTags !== 'function') {
      throw new InvalidOptionError('option `cache` must be a ferrocache Cache')
    }
    return options.cache
  }
  const { cache: _unused, ...rest } = options ?? {}
  const opts: CacheOptions =
    Object.keys(rest).length > 0 ? { prefix: DEFAULT_NEXT_PREFIX, ...rest } : optionsFromEnv()
  const id = JSON.stringify(opts, (_k, v: unknown) => (typeof v === 'function' ? String(v) : v))
  const r = registry()
  let c = r.caches.get(id)
  if (c === undefined) {
    c = new Cache(opts)
    r.caches.set(id, c)
  }
  return c
}

/** Tags as Next passes them (a string, an array, or rest arguments), cleaned: strings, deduplicated. */
export function tagList(input: unknown): string[] {
  const flat = (Array.isArray(input) ? input.flat(2) : [input]) as unknown[]
  const out = new Set<string>()
  for (const t of flat) if (typeof t === 'string' && t !== '' && t.length <= 512) out.add(t)
  return [...out]
}

/** Splits an entry's tags into those recorded as markers (at most MAX_TAGS) and the overflow. */
export function splitTags(tags: string[]): { marked: string[]; overflow: string[] } {
  return { marked: tags.slice(0, MAX_TAGS), overflow: tags.slice(MAX_TAGS) }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms).unref())

/**
 * Invalidates tags for every instance: new markers (what `Cache.invalidateTags` does, so `Cache`
 * and tRPC entries tagged alike go too) and the tags' times (for soft tags). Never rejects: with
 * Valkey down it retries briefly, then counts the invalidation as dropped and logs once.
 */
export async function invalidate(cache: Cache, tags: string[]): Promise<void> {
  if (tags.length === 0) return
  const now = Date.now()
  const tagTtl = cache._options.tagTtlMs / 1000
  for (let i = 0; i < tags.length; i += TAG_BATCH) {
    const batch = tags.slice(i, i + TAG_BATCH)
    for (let attempt = 0; ; attempt++) {
      try {
        await Promise.all([
          cache.invalidateTags(batch),
          cache.setMany(batch.map((t) => ({ key: tagTimeKey(t), value: now, ttl: tagTtl }))),
        ])
        break
      } catch (e) {
        if (attempt < INVALIDATE_RETRIES.length) {
          await sleep(INVALIDATE_RETRIES[attempt])
          continue
        }
        count('droppedInvalidations')
        warnOnce('invalidate', `could not invalidate tags (${(e as Error).message}); counted as dropped`)
        break
      }
    }
  }
}

/** The latest time any of `tags` was invalidated through Next (0: never, or Valkey unreachable). */
export async function lastInvalidated(cache: Cache, tags: string[]): Promise<number> {
  if (tags.length === 0) return 0
  try {
    const times = await cache.getMany<number>(tags.map(tagTimeKey))
    let max = 0
    for (const t of times) if (typeof t === 'number' && t > max) max = t
    return max
  } catch {
    count('failedReads')
    return 0
  }
}

/** Reads an entry; a failure is a miss (counted), never an error page. */
export async function readEntry<T>(cache: Cache, key: string): Promise<T | undefined> {
  try {
    return await cache.get<T>(key)
  } catch (e) {
    count('failedReads')
    warnOnce('read', `read failed, answered as a miss (${(e as Error).message})`)
    return undefined
  }
}

/** Writes an entry; a failure drops the write (counted), never an error page. */
export async function writeEntry(
  cache: Cache,
  key: string,
  value: unknown,
  ttlS: number,
  tags: string[],
): Promise<void> {
  try {
    await cache.set(key, value, { ttl: ttlS, tags })
  } catch (e) {
    count('droppedWrites')
    warnOnce('write', `write dropped (${(e as Error).message}); counted in droppedWrites`)
  }
}

/** The ttl in seconds for an entry Next says may live `expire` seconds (≤ 0 or absent: the default). */
export function ttlOf(expire: unknown): number {
  if (typeof expire === 'number' && Number.isFinite(expire) && expire > 0) {
    return Math.min(expire, DEFAULT_NEXT_TTL_S)
  }
  return DEFAULT_NEXT_TTL_S
}
