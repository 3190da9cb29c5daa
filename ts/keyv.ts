/**
 * `ferrocache/keyv`: a Keyv 5 store, so Keyv users (and cache-manager) can keep their code and put
 * ferrocache under it: `new Keyv({ store: new KeyvFerrocache(cache) })`.
 */
import { EventEmitter } from 'node:events'
import { escapeGlob } from './boundary/binding'
import { Cache } from './cache/cache'
import type { CacheOptions } from './core/options'

/**
 * A Keyv 5 storage adapter over a `Cache` (memory-only or Valkey). Keyv hands it keys already
 * prefixed with its namespace (`<namespace>:<key>`) and values it serialized itself; a ttl given in
 * milliseconds becomes the entry's expiry, no ttl means no expiry.
 *
 * @example
 * ```ts
 * import Keyv from 'keyv'
 * import { Cache } from 'ferrocache'
 * import { KeyvFerrocache } from 'ferrocache/keyv'
 *
 * const keyv = new Keyv({ store: new KeyvFerrocache(new Cache({ url: 'redis://127.0.0.1:6379', prefix: 'app:' })) })
 * await keyv.set('user:1', { name: 'Ada' }, 60_000)
 * ```
 */
export class KeyvFerrocache extends EventEmitter {
  /** The cache this store reads and writes. */
  readonly cache: Cache
  /** What Keyv and its test suite read and write (`dialect`, `url`, `deserialize`). */
  opts: Record<string, unknown>
  /** Set by Keyv: the namespace whose keys `clear()` and `iterator()` cover. */
  namespace?: string
  private readonly owned: boolean

  /** Takes a `Cache` (shared, not closed by `disconnect()`) or the options of a new one (owned). */
  constructor(cacheOrOptions?: Cache | CacheOptions) {
    super()
    this.owned = !(cacheOrOptions instanceof Cache)
    this.cache = cacheOrOptions instanceof Cache ? cacheOrOptions : new Cache(cacheOrOptions)
    // Keyv turns on `iterator()` only for stores whose dialect it knows as iterable.
    this.opts = { dialect: 'valkey', url: '' }
  }

  /** @example `await store.get('keyv:foo')` */
  get<Value>(key: string): Promise<Value | undefined> {
    return this.cache.get<Value>(key)
  }

  /** @example `await store.getMany(['keyv:a', 'keyv:b'])` */
  getMany<Value>(keys: string[]): Promise<Array<Value | undefined>> {
    return this.cache.getMany<Value>(keys)
  }

  /** `ttl` in milliseconds, as Keyv passes it; none means no expiry. @example `await store.set('keyv:foo', 'bar', 1000)` */
  async set(key: string, value: unknown, ttl?: number): Promise<boolean> {
    const seconds = typeof ttl === 'number' && ttl > 0 ? ttl / 1000 : Infinity
    await this.cache.set(key, value, { ttl: seconds })
    return true
  }

  /** @example `await store.delete('keyv:foo')` */
  delete(key: string): Promise<boolean> {
    return this.cache.delete(key)
  }

  /** Resolves true when at least one key was deleted. @example `await store.deleteMany(['keyv:a', 'keyv:b'])` */
  async deleteMany(keys: string[]): Promise<boolean> {
    const deleted = await Promise.all(keys.map((k) => this.cache.delete(k)))
    return deleted.some(Boolean)
  }

  /** @example `await store.has('keyv:foo')` */
  has(key: string): Promise<boolean> {
    return this.cache.has(key)
  }

  /** Deletes this store's namespace (or everything under the cache's prefix without one). @example `await store.clear()` */
  async clear(): Promise<void> {
    if (this.namespace) await this.cache.deleteMatching(`${escapeGlob(this.namespace)}:*`)
    else await this.cache.clear()
  }

  /**
   * `[key, value]` for every entry of a namespace (keys as Keyv wrote them), over SCAN pages:
   * bounded memory, every cluster primary. Entries that vanish meanwhile are skipped.
   *
   * @example
   * ```ts
   * for await (const [key, raw] of store.iterator('keyv')) console.log(key, raw)
   * ```
   */
  async *iterator<Value>(namespace?: string): AsyncGenerator<[string, Value]> {
    const ns = namespace ?? this.namespace
    const pattern = ns ? `${escapeGlob(ns)}:*` : '*'
    for await (const key of this.cache.keys(pattern)) {
      const value = await this.cache.get<Value>(key)
      if (value !== undefined) yield [key, value]
    }
  }

  /** Closes the cache if this store created it. @example `await store.disconnect()` */
  async disconnect(): Promise<void> {
    if (this.owned) await this.cache.close()
  }
}

export default KeyvFerrocache
