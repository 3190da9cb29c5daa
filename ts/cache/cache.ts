import {
  CacheError,
  ClosedError,
  InvalidKeyError,
  InvalidOptionError,
  InvalidValueError,
  codecToCacheError,
} from '../core/errors'
import { checkWellFormed, keyError } from '../core/keys'
import { L1_MISS } from '../tiers/l1'
import { CacheOperations } from '../features/cache-operations'
import { observedGetOrSet } from '../features/observe'
import { OtelBridge, serverOf } from '../features/otel'
import type { FlightTrace } from '../features/single-flight'
import type { CacheOptions } from '../core/options'
import { entryWriteOf, planOf, writeOf, type GetOrSetOptions, type SetOptions } from '../core/plan'
import { Shared } from './context'
import type { Loader } from '../features/single-flight'
import type { LoaderContext } from '../features/loader'
import type { SetRequest } from '../boundary/transport'
import { warm, type WarmEntry, type WarmOptions, type WarmReport } from '../features/warm'
import { writeThrough } from '../features/write-through'
import { createWriteBehind, type WriteBehind, type WriteBehindOptions } from '../features/write-behind'

export type { GetOrSetOptions, SetOptions } from '../core/plan'
export type { CacheStats, HealthReport } from '../features/metrics'
export type { CacheEvent, CacheEventType, CacheEventListener } from '../features/telemetry'
export type { InspectOptions, InspectReport } from '../features/inspect'

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
export class Cache extends CacheOperations {
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
    const shared = parent ? parent.shared : new Shared(options)
    super(shared, parent ? parent.prefix : shared.opts.prefix)
    if (parent) return
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
}
