import { escapeGlob } from './boundary/binding'
import type { Codec } from './core/codec'
import {
  CacheError,
  ClosedError,
  InvalidKeyError,
  InvalidOptionError,
  InvalidValueError,
  codecToCacheError,
  fromNative,
} from './core/errors'
import { checkWellFormed, keyError, wellFormed } from './core/keys'
import { L1_MISS } from './tiers/l1'
import { renderExposition, type CacheStats, type HealthReport, type MetricsSource } from './features/metrics'
import { observedGetOrSet } from './features/observe'
import { OtelBridge, serverOf } from './features/otel'
import type { FlightTrace } from './features/single-flight'
import type { CacheEventListener, CacheEventType, ProcedureStats } from './features/telemetry'
import { inspect, type InspectOptions, type InspectReport } from './features/inspect'
import type { CacheOptions, ResolvedOptions } from './core/options'
import { entryWriteOf, planOf, writeOf, type GetOrSetOptions, type SetOptions } from './core/plan'
import { Shared } from './context'
import type { Loader } from './features/single-flight'
import type { LoaderContext } from './features/loader'
import type { SetRequest } from './boundary/transport'
import { scanKeys } from './features/scan'
import { markerKeys } from './features/tags'
import { warm, type WarmEntry, type WarmOptions, type WarmReport } from './features/warm'
import { writeThrough } from './features/write-through'
import { createWriteBehind, type WriteBehind, type WriteBehindOptions } from './features/write-behind'

export type { GetOrSetOptions, SetOptions } from './core/plan'
export type { CacheStats, HealthReport } from './features/metrics'
export type { CacheEvent, CacheEventType, CacheEventListener } from './features/telemetry'
export type { InspectOptions, InspectReport } from './features/inspect'

/** One entry of `setMany`. */
export interface SetManyEntry extends SetOptions {
  key: string
  value: unknown
}

/** Why a call cannot start: the cache is closed, or the key is unusable. */
function refuse(shared: Shared, key: unknown): CacheError | undefined {
  if (shared.transport.closed) return new ClosedError()
  return keyError(key)
}

/**
 * A cache backed by Valkey — one node (`url`) or a Valkey Cluster (`nodes`) — or by memory when
 * neither is given.
 *
 * @example
 * ```ts
 * import { Cache } from 'ferrocache'
 * const cache = new Cache({ url: process.env.VALKEY_URL, prefix: 'app:' })
 * await cache.set('user:1', { name: 'Ada', since: new Date() }, { ttl: 60 })
 * const user = await cache.get<{ name: string; since: Date }>('user:1')
 * ```
 */
export class Cache {
  /** The full prefix of this view (cache prefix + namespaces). */
  readonly prefix: string
  private readonly shared: Shared

  /**
   * Creates a cache. Throws `E_INVALID_OPTION` synchronously on bad options; never connects
   * synchronously (connections warm up in the background).
   *
   * @example
   * ```ts
   * const cache = new Cache({ url: 'redis://127.0.0.1:6379', ttl: 60 })
   * const memoryOnly = new Cache() // no url: in-process, bounded by memoryMaxBytes
   * ```
   */
  constructor(options?: CacheOptions)
  /** @internal */
  constructor(options: CacheOptions | undefined, parent: { shared: Shared; prefix: string })
  constructor(options?: CacheOptions, parent?: { shared: Shared; prefix: string }) {
    if (parent) {
      this.shared = parent.shared
      this.prefix = parent.prefix
      return
    }
    this.shared = new Shared(options)
    this.prefix = this.shared.opts.prefix
    const o = this.shared.opts
    const otel = OtelBridge.create(o.name, serverOf(o.url, o.nodes), () => this.stats())
    this.shared.otel = this.shared.telemetry.otel = otel
  }

  /**
   * Reads a value. Resolves `undefined` on a miss — and also when Valkey is unreachable or a stored
   * value is foreign/corrupt (counted in `stats().errors`), so a down cache never breaks a page.
   *
   * @example
   * ```ts
   * const user = await cache.get<User>('user:1') // User | undefined
   * ```
   */
  get<T = unknown>(key: string): Promise<T | undefined> {
    const no = refuse(this.shared, key)
    if (no !== undefined) return Promise.reject(no)
    const gate = this.shared.l1Gate
    if (gate !== undefined) return gate.then(() => this.get<T>(key))
    const k = this.prefix + key
    const l1 = this.shared.l1
    if (l1 !== undefined) {
      const hit = l1.get(k)
      if (hit !== L1_MISS) return Promise.resolve(hit as T)
    }
    return this.shared.transport.get(k) as Promise<T | undefined>
  }

  /**
   * Stores a value for `ttl` seconds (default: the cache's `ttl`; `Infinity`: no expiry, at most
   * `tagTtl` with tags). Rejects with `E_INVALID_VALUE` for `undefined`, `E_SERIALIZE` for values the
   * serializer cannot encode, `E_VALUE_TOO_LARGE` above `maxValueBytes`, `E_INVALID_OPTION` for
   * bad options (unknown names, a ttl ≤ 0 or above 100 years), and `E_CONNECTION`/`E_TIMEOUT` when
   * Valkey is down.
   *
   * @example
   * ```ts
   * await cache.set('session:abc', { userId: 1, expires: new Date() }, { ttl: 3600 })
   * await cache.set('config', { theme: 'dark' }, { ttl: Infinity }) // never expires
   * ```
   */
  set(key: string, value: unknown, options?: SetOptions): Promise<void> {
    const no = refuse(this.shared, key)
    if (no !== undefined) return Promise.reject(no)
    let w
    let encoded
    try {
      w = writeOf(options, this.shared.opts)
      encoded = this.shared.codec.encode(value)
    } catch (e) {
      return Promise.reject(codecToCacheError(e))
    }
    const k = this.prefix + key
    const write = this.shared.transport.set(k, {
      codecId: encoded.codec,
      data: encoded.data,
      ttlMs: w.ttlMs,
      freshMs: 0,
      markers: w.markers,
    })
    this.shared.wrote([k])
    return write as Promise<void>
  }

  /**
   * Returns the cached value, or runs `loader` once to produce it — once per key in this process
   * (concurrent callers share the call) and once per lease across processes sharing the Valkey
   * (the others wait, woken over pub/sub, and get its value). Loader errors reach every waiter and
   * are never cached. With `grace`, an expired value is served while one refresh runs, and when the
   * loader fails or Valkey is down.
   *
   * @example
   * ```ts
   * const user = await cache.getOrSet(`user:${id}`, () => db.user.find(id), { ttl: 60, grace: 600 })
   * ```
   */
  getOrSet<T>(
    key: string,
    loader: (ctx: LoaderContext) => T | Promise<T>,
    options?: GetOrSetOptions,
  ): Promise<T> {
    return this._getOrSet(key, loader, options)
  }

  /** @internal getOrSet that reports how the call was answered (the tRPC middleware's stats). */
  _getOrSet<T>(
    key: string,
    loader: (ctx: LoaderContext) => T | Promise<T>,
    options: GetOrSetOptions | undefined,
    trace?: FlightTrace & { loaded?: boolean },
  ): Promise<T> {
    const no = refuse(this.shared, key)
    if (no !== undefined) return Promise.reject(no)
    if (typeof loader !== 'function') {
      return Promise.reject(new InvalidOptionError('getOrSet(key, loader): loader must be a function'))
    }
    let plan
    try {
      plan = planOf(options, this.shared.opts)
    } catch (e) {
      return Promise.reject(e)
    }
    const sh = this.shared
    const gate = sh.l1Gate
    if (gate !== undefined) return gate.then(() => this._getOrSet(key, loader, options, trace))
    return observedGetOrSet(
      sh.flights,
      sh.telemetry,
      sh.otel,
      this.prefix + key,
      key,
      loader as Loader,
      plan,
      trace,
    ) as Promise<T>
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
   * Deletes a key; resolves `true` when it existed.
   *
   * @example
   * ```ts
   * const existed = await cache.delete('user:1')
   * ```
   */
  delete(key: string): Promise<boolean> {
    const no = refuse(this.shared, key)
    if (no !== undefined) return Promise.reject(no)
    const k = this.prefix + key
    const done = this.shared.transport.delete(k)
    this.shared.wrote([k])
    return done as Promise<boolean>
  }

  /**
   * Whether a key holds a live value: exactly when `get(key)` would resolve something other than
   * `undefined` (tag-invalidated, stale, foreign or corrupt entries are not live; and, like `get`,
   * `false` while Valkey is unreachable). It reads the entry like `get` does (one round trip) but
   * moves no hit/miss counter; errors are counted.
   *
   * @example
   * ```ts
   * if (await cache.has('user:1')) console.log('cached')
   * ```
   */
  has(key: string): Promise<boolean> {
    const no = refuse(this.shared, key)
    if (no !== undefined) return Promise.reject(no)
    const k = this.prefix + key
    if (this.shared.l1?.holds(k) === true) return Promise.resolve(true)
    return this.shared.transport.probe(k)
  }

  /**
   * Reads many keys in one round trip; the result has one slot per key (`undefined` for misses).
   *
   * @example
   * ```ts
   * const [a, b] = await cache.getMany<User>(['user:1', 'user:2'])
   * ```
   */
  getMany<T = unknown>(keys: string[]): Promise<(T | undefined)[]> {
    if (this.shared.transport.closed) return Promise.reject(new ClosedError())
    if (!Array.isArray(keys)) return Promise.reject(new InvalidKeyError('getMany takes an array of keys'))
    const gate = this.shared.l1Gate
    if (gate !== undefined) return gate.then(() => this.getMany<T>(keys))
    const out: unknown[] = new Array(keys.length)
    const missing: string[] = []
    const slots: number[] = []
    const l1 = this.shared.l1
    for (let i = 0; i < keys.length; i++) {
      const bad = keyError(keys[i])
      if (bad !== undefined) return Promise.reject(bad)
      const k = this.prefix + keys[i]
      const hit = l1 === undefined ? L1_MISS : l1.get(k)
      if (hit === L1_MISS) {
        missing.push(k)
        slots.push(i)
      } else out[i] = hit
    }
    return this.shared.transport.getMany(missing, out, slots) as Promise<(T | undefined)[]>
  }

  /**
   * Writes many entries in one round trip (one pipeline). Every entry is validated and serialized
   * before anything is sent: one bad entry rejects the call and writes nothing.
   *
   * @example
   * ```ts
   * await cache.setMany([{ key: 'a', value: 1 }, { key: 'b', value: 2, ttl: 10 }])
   * ```
   */
  setMany(entries: SetManyEntry[]): Promise<void> {
    if (this.shared.transport.closed) return Promise.reject(new ClosedError())
    if (!Array.isArray(entries))
      return Promise.reject(new InvalidValueError('setMany takes an array of { key, value } entries'))
    const requests: SetRequest[] = new Array(entries.length)
    const keys: string[] = new Array(entries.length)
    for (let i = 0; i < entries.length; i++) {
      const e = entries[i]
      if (typeof e !== 'object' || e === null)
        return Promise.reject(new InvalidValueError(`setMany entry ${i} is not an object`))
      const bad = keyError(e.key)
      if (bad !== undefined) return Promise.reject(bad)
      try {
        const w = entryWriteOf(e, i, this.shared.opts)
        const encoded = this.shared.codec.encode(e.value)
        const key = (keys[i] = this.prefix + e.key)
        requests[i] = {
          key,
          codecId: encoded.codec,
          data: encoded.data,
          ttlMs: w.ttlMs,
          freshMs: 0,
          markers: w.markers,
        }
      } catch (err) {
        return Promise.reject(codecToCacheError(err))
      }
    }
    const written = this.shared.transport.setMany(requests)
    // Like set: the writes are queued, so every L1 (this one included) drops the old values.
    this.shared.wrote(keys)
    return written
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
   * A view whose keys live under `<prefix><name>:`; it shares connections, codec and stats.
   * Closing any view closes the shared engine.
   *
   * @example
   * ```ts
   * const users = cache.namespace('users')
   * await users.set('1', { name: 'Ada' }) // stored under '<prefix>users:1'
   * ```
   */
  namespace(name: string): Cache {
    if (typeof name !== 'string' || name === '') {
      throw new InvalidOptionError('namespace(name) takes a non-empty string')
    }
    checkWellFormed('namespace(name)', name)
    return new Cache(undefined, { shared: this.shared, prefix: `${this.prefix}${name}:` })
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
   * Sends queued writes, waits (bounded by the command timeout) for in-flight requests, and
   * releases connections. Afterwards every call rejects with `E_CLOSED` and the process can exit.
   *
   * @example
   * ```ts
   * process.on('SIGTERM', () => cache.close())
   * ```
   */
  close(): Promise<void> {
    const o = this.shared.opts
    this.shared.telemetry.close()
    this.shared.liftL1Gate()
    return this.shared.transport.close(o.commandTimeoutMs + o.connectTimeoutMs)
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
   * Loads many entries ahead of traffic, through `getOrSet` (one load per key, even racing live
   * traffic or another process's warm), `concurrency` at a time, pulling from `entries` (sync or
   * async iterable) only when a slot is free. Present keys are skipped unless `force`. Loader
   * errors are collected in the report, never thrown.
   *
   * @example
   * ```ts
   * const report = await cache.warm(
   *   (async function* () { for await (const row of db.users.cursor()) yield { key: `user:${row.id}`, loader: () => row } })(),
   *   { concurrency: 16, onProgress: (p) => console.log(p.done) },
   * )
   * ```
   */
  warm(entries: Iterable<WarmEntry> | AsyncIterable<WarmEntry>, options?: WarmOptions): Promise<WarmReport> {
    return warm(this, entries, options)
  }

  /**
   * Writes `value` to the source of truth with `write`, then caches it. A failing `write` rejects
   * with its own error and leaves the cache untouched. If caching fails after the write, the key
   * is invalidated (nothing stale is served), the call resolves and `stats().writeThroughErrors`
   * counts it. A `getOrSet` load that started before the write never overwrites the written value.
   *
   * @example
   * ```ts
   * await cache.writeThrough(`user:${id}`, user, (u) => db.users.update(id, u), { ttl: 600 })
   * ```
   */
  writeThrough<T>(key: string, value: T, write: (value: T) => unknown, options?: SetOptions): Promise<void> {
    const flights = this.shared.flights
    return writeThrough(this, key, value, write, options, {
      counters: this.shared.counters,
      underLease: (k, lockTtlMs, waitMs, fn) => flights.underLease(k, lockTtlMs, waitMs, fn),
    })
  }

  /**
   * A write-behind writer: `set`/`delete` update the cache and journal the write in a Valkey
   * Stream before resolving; a consumer group flushes the journal to `flush` in batches (last
   * write per key, per-key order, retries, dead letters). Durable across crashes with Valkey;
   * in memory mode the journal is in-process (not crash-durable). See docs/write-behind.md.
   *
   * @example
   * ```ts
   * const writer = cache.writeBehind({ name: 'users', flush: (batch) => db.users.upsertMany(batch) })
   * await writer.set('user:1', { name: 'Ada' })
   * ```
   */
  writeBehind(options: WriteBehindOptions): WriteBehind {
    return createWriteBehind(this, options)
  }

  /** @internal A forced load under the lease (warm with `force`): true when the loader ran here. */
  _reload(key: string, loader: (ctx: LoaderContext) => unknown, options?: GetOrSetOptions): Promise<boolean> {
    if (typeof key !== 'string' || key === '') return Promise.reject(keyError(key))
    let plan
    try {
      plan = planOf(options, this.shared.opts)
    } catch (e) {
      return Promise.reject(e)
    }
    return this.shared.flights.reload(this.prefix + key, loader as Loader, plan)
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
