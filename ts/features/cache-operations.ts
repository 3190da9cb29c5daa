/**
 * The operations side of a `Cache` (its base class): events, inspection, key scans and
 * pattern deletes, stats/health/metrics, tag invalidation, and the internal accessors ferrocache's
 * own modules use. The data path (get/set/getOrSet/getMany/setMany…) and the write strategies stay
 * in cache.ts. Split out to keep each file readable; methods delegate to the feature modules.
 */
import { escapeGlob } from '../boundary/binding'
import type { Codec } from '../core/codec'
import { ClosedError, fromNative, InvalidKeyError, InvalidOptionError } from '../core/errors'
import { wellFormed } from '../core/keys'
import type { ResolvedOptions } from '../core/options'
import type { Shared } from '../cache/context'
import { inspect, type InspectOptions, type InspectReport } from './inspect'
import { renderExposition, type CacheStats, type HealthReport, type MetricsSource } from './metrics'
import { scanKeys } from './scan'
import { markerKeys } from './tags'
import type { CacheEventListener, CacheEventType, ProcedureStats } from './telemetry'

/** Base class of `Cache`: construct a `Cache`, not this. */
export class CacheOperations {
  /** The full prefix of this view (cache prefix + namespaces). */
  readonly prefix: string
  /** @internal The per-cache context shared by all namespaces. */
  protected readonly shared: Shared

  /** @internal */
  protected constructor(shared: Shared, prefix: string) {
    this.shared = shared
    this.prefix = prefix
  }

  /** @internal Per-procedure counters of the tRPC middleware (bounded number of paths). */
  _procedure(path: string): ProcedureStats {
    return this.shared.telemetry.procedure(path)
  }

  /**
   * Listens to `'down'` (Valkey became unreachable), `'up'` (reachable again), `'error'` (a request
   * failed in the engine: `code`) and `'stale'` (getOrSet served a stale value: `key`). Listener errors
   * are swallowed. Returns the cache, for chaining.
   *
   * @example
   * ```ts
   * cache.on('down', (e) => alerts.page(`cache down: ${e.error}`)).on('up', (e) => console.log(e.downForMs))
   * ```
   */
  on<T extends CacheEventType>(type: T, listener: CacheEventListener<T>): this {
    if (!['down', 'up', 'error', 'stale'].includes(type) || typeof listener !== 'function') {
      throw new InvalidOptionError("on(type, listener): type is 'down' | 'up' | 'error' | 'stale'")
    }
    this.shared.telemetry.on(type, listener as unknown as CacheEventListener)
    return this
  }

  /**
   * Removes a listener added with `on`.
   *
   * @example
   * ```ts
   * cache.off('down', onDown)
   * ```
   */
  off<T extends CacheEventType>(type: T, listener: CacheEventListener<T>): this {
    this.shared.telemetry.off(type, listener as unknown as CacheEventListener)
    return this
  }

  /**
   * What the servers and this cache's keys look like: per server (every primary and replica)
   * memory, evictions, hit rate, ops/s; this prefix's keys estimated from a bounded SCAN sample with
   * `MEMORY USAGE` (never KEYS), the biggest ones, tag markers, the slow log (command name and key
   * only) and this client's stats. Bounded work: at most `sample` keys are sized.
   *
   * @example
   * ```ts
   * const r = await cache.inspect({ sample: 500, top: 5 })
   * console.log(r.servers[0].usedMemory, r.keys.estimated, r.keys.biggest)
   * ```
   */
  inspect(options?: InspectOptions): Promise<InspectReport> {
    return inspect(this, options)
  }

  /**
   * Deletes the entries whose key (below this cache's prefix) matches a glob (`*`, `?`, `[a-z]`).
   * Uses SCAN + UNLINK in bounded batches (never KEYS); glob characters in the prefix are escaped.
   * Resolves the number of entries deleted.
   *
   * @example
   * ```ts
   * const n = await cache.deleteMatching('user:*')
   * ```
   */
  async deleteMatching(pattern: string): Promise<number> {
    if (this.shared.transport.closed) throw new ClosedError()
    if (typeof pattern !== 'string' || pattern === '') {
      throw new InvalidKeyError('deleteMatching takes a non-empty glob pattern, e.g. "user:*"')
    }
    if (!wellFormed(pattern)) {
      throw new InvalidKeyError(
        'deleteMatching patterns must be well-formed Unicode: this one holds a lone UTF-16 surrogate',
      )
    }
    return this.scanDelete(escapeGlob(this.prefix) + pattern)
  }

  /**
   * The keys under this cache's prefix (prefix stripped), optionally only those matching a glob:
   * an async iterator over SCAN pages (bounded memory, never KEYS), every primary of a cluster.
   *
   * @example
   * ```ts
   * for await (const key of cache.keys('user:*')) console.log(key)
   * ```
   */
  keys(pattern?: string): AsyncGenerator<string> {
    return scanKeys(this.shared.transport, this.prefix, pattern)
  }

  /**
   * Deletes everything under this cache's prefix (namespace included), nothing else.
   *
   * @example
   * ```ts
   * await cache.namespace('users').clear() // only keys under '<prefix>users:'
   * ```
   */
  async clear(): Promise<void> {
    await this.scanDelete(escapeGlob(this.prefix) + '*')
  }

  private async scanDelete(pattern: string): Promise<number> {
    if (this.shared.transport.closed) throw new ClosedError()
    try {
      return await this.shared.transport.engine.deleteMatching(pattern)
    } catch (e) {
      throw fromNative(e)
    } finally {
      this.shared.deletedMatching(pattern)
    }
  }

  /**
   * Counters since start (synchronous).
   *
   * @example
   * ```ts
   * const { hitRate, errors } = cache.stats()
   * ```
   */
  stats(): CacheStats {
    return this.shared.stats()
  }

  /**
   * Pings the store. Never rejects: `ok: false` (with `error`) when Valkey is unreachable.
   *
   * @example
   * ```ts
   * const { ok, latencyMs, mode } = await cache.health()
   * ```
   */
  async health(): Promise<HealthReport> {
    const engine = this.shared.transport.engine
    const mode = engine.mode as HealthReport['mode']
    try {
      const latencyMs = await engine.ping()
      this.shared.telemetry.pinged(true)
      return { ok: true, latencyMs, mode }
    } catch (e) {
      const err = fromNative(e)
      if (!this.shared.transport.closed) this.shared.telemetry.pinged(false, err.code)
      return { ok: false, latencyMs: -1, mode, error: err.message }
    }
  }

  /**
   * Counters and health in Prometheus text exposition format (for a `/metrics` route).
   *
   * @example
   * ```ts
   * export async function GET() { return new Response(await cache.metrics()) }
   * ```
   */
  async metrics(): Promise<string> {
    return renderExposition([await this._metricsSource()])
  }

  /** @internal This cache's share of an exposition (`renderMetrics([a, b])`). */
  async _metricsSource(): Promise<MetricsSource & { id: object }> {
    const o = this.shared.opts
    const health = await this.health()
    return {
      id: this.shared,
      name: o.name,
      prefix: o.prefix,
      stats: this.stats(),
      health,
      telemetry: this.shared.telemetry,
    }
  }

  /**
   * Makes every entry carrying any of `tags` a miss — or stale, for entries written with grace —
   * for every instance, as soon as this resolves. O(1) per tag whatever the number of entries:
   * each tag's marker gets a new value, and entries compare markers when read.
   *
   * @example
   * ```ts
   * await cache.set('post:1', post, { tags: ['posts', 'user:7'] })
   * await cache.invalidateTags(['user:7']) // post:1 is now a miss
   * ```
   */
  async invalidateTags(tags: string[]): Promise<void> {
    if (this.shared.transport.closed) throw new ClosedError()
    const markers = markerKeys(this.shared.opts.prefix, tags, 'invalidateTags(tags)', 10_000)
    if (markers.length === 0) return
    try {
      await this.shared.transport.engine.invalidateTags(markers, this.shared.opts.tagTtlMs)
    } catch (e) {
      throw fromNative(e)
    } finally {
      this.shared.tagsInvalidated()
    }
  }

  /**
   * @internal Runs one raw command in the next pipeline (Valkey modes only; memory mode rejects).
   * For ferrocache's own modules (rate limiter, sessions); not a public API.
   */
  _command(routeKey: string, args: (string | Buffer)[]): Promise<unknown> {
    return this.shared.transport.command(routeKey, args)
  }

  /** @internal `'memory'`, `'standalone'` or `'cluster'`. */
  get _mode(): string {
    return this.shared.transport.engine.mode
  }

  /** @internal The codec values go through (for modules storing values themselves). */
  get _codec(): Codec {
    return this.shared.codec
  }

  /** @internal The options in force, defaults filled in. */
  get _options(): ResolvedOptions {
    return this.shared.opts
  }
}
