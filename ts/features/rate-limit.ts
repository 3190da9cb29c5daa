/**
 * Rate limiting on the cache's Valkey: one atomic Lua script on one key per identifier (so it is
 * exact under any concurrency and cluster-safe), with time taken from Valkey (`TIME`) so the clocks
 * of app servers never matter. Memory-only caches get an in-process twin with the same arithmetic.
 */
import type { Cache } from '../cache/cache'
import { keySlot } from '../boundary/binding'
import { CacheError, InvalidKeyError, InvalidOptionError } from '../core/errors'
import { checkWellFormed, wellFormed } from '../core/keys'
import { SCRIPTS, type RateLimitAlgorithm } from './rate-limit-scripts'
import { runScript } from './scripts'

export type { RateLimitAlgorithm }

/** Options of `new RateLimiter()`. */
export interface RateLimiterOptions {
  /** Requests allowed per window (token bucket: capacity, refilled at `limit` per `window`). */
  limit: number
  /** Window length in seconds (fractions allowed, at least 1 ms). */
  window: number
  /** Default `'sliding-window'`. */
  algorithm?: RateLimitAlgorithm
  /** When Valkey cannot be reached (`E_CONNECTION`/`E_TIMEOUT`): `true` (default) admits, `false` denies. */
  failOpen?: boolean
  /** Optional name, so two limiters on one cache and id keep separate counts: `ratelimit:<algorithm>:<name>:<id>`. */
  name?: string
}

/** What `limit()` resolves. */
export interface RateLimitResult {
  /** Whether this request is admitted. */
  success: boolean
  /** The configured limit. */
  limit: number
  /** Requests still admitted right now after this one (0 when denied). */
  remaining: number
  /**
   * Epoch ms. Admitted: when the current window ends (token bucket: when the next token is added).
   * Denied: the earliest time a retry can succeed.
   */
  reset: number
  /** Set when Valkey was unreachable and the limiter answered by its `failOpen` policy. */
  reason?: 'failed-open' | 'failed-closed'
}

/** Counters since the limiter was created; they add up to the number of `limit()` calls. */
export interface RateLimiterStats {
  allowed: number
  denied: number
  failedOpen: number
  failedClosed: number
}

/** A denied request, as `rateLimitMiddleware` reports it (the `cause` of its TRPCError). */
export class RateLimitedError extends CacheError {
  readonly limit: number
  readonly remaining: number
  readonly reset: number
  constructor(r: RateLimitResult) {
    const secs = Math.max(0, Math.ceil((r.reset - Date.now()) / 1000))
    super(
      'E_RATE_LIMITED',
      `rate limit exceeded: limit=${r.limit} remaining=${r.remaining} reset=${r.reset} (retry in ${secs} s)`,
    )
    this.limit = r.limit
    this.remaining = r.remaining
    this.reset = r.reset
  }
}

/** Most keys one script call takes (bounds how long one batch holds Valkey: ~64 × a few µs). */
const MAX_BATCH = 64

/** Callers answered per microtask when a batch's reply arrives (see `answer`). */
const ANSWER_CHUNK = 32

/** A `limit()` call waiting for its batch's reply. */
interface Pending {
  key: string
  resolve: (r: RateLimitResult) => void
  reject: (e: unknown) => void
}

/** In-process state of memory-only caches, shared by every limiter on one cache (like Valkey's). */
interface MemState {
  a: number
  b: number
  c: number
  expiresAt: number
}
const memories = new WeakMap<object, { map: Map<string, MemState>; calls: number }>()

/**
 * Limits how often an identifier (user id, IP, API key) may do something.
 *
 * - `'sliding-window'` (default): two fixed-window counters, the previous one weighted by the part
 *   of it the sliding window still covers. O(1) memory per id whatever the limit; smooths the burst
 *   at window edges that a fixed window allows.
 * - `'fixed-window'`: at most `limit` per aligned window of `window` seconds.
 * - `'token-bucket'`: bursts up to `limit`, refilled continuously at `limit` per `window`.
 *
 * Each id has one key (`<prefix>ratelimit:<algorithm>:<id>`, expiring by itself) updated by an
 * atomic script timed by Valkey's clock: N parallel calls never admit more than `limit`. Calls made
 * in the same turn of the event loop share one script call (up to 64 keys; in a cluster, keys of one
 * hash slot), so Valkey runs one script where a hand-written limiter runs one per call. Denied calls are
 * not counted. When Valkey is unreachable it fails open (or closed with `failOpen: false`), counted
 * in `stats()`. Memory-only caches use an in-process implementation with the same semantics.
 *
 * @example
 * ```ts
 * import { Cache, RateLimiter } from 'ferrocache'
 * const limiter = new RateLimiter(new Cache({ url: process.env.VALKEY_URL }), { limit: 10, window: 60 })
 * const { success, remaining, reset } = await limiter.limit(`login:${ip}`)
 * if (!success) return new Response('slow down', { status: 429, headers: { 'retry-after': String(Math.ceil((reset - Date.now()) / 1000)) } })
 * ```
 */
export class RateLimiter {
  readonly algorithm: RateLimitAlgorithm
  private readonly max: number
  private readonly winMs: number
  private readonly failOpen: boolean
  private readonly keyBase: string
  private readonly memoryOnly: boolean
  private readonly counters: RateLimiterStats = { allowed: 0, denied: 0, failedOpen: 0, failedClosed: 0 }
  private queue: Pending[] = []

  /**
   * Validates the options (`E_INVALID_OPTION`); connects nothing.
   *
   * @example
   * ```ts
   * const perUser = new RateLimiter(cache, { limit: 100, window: 60, algorithm: 'token-bucket' })
   * ```
   */
  constructor(
    private readonly cache: Cache,
    options: RateLimiterOptions,
  ) {
    if (!cache || typeof (cache as Partial<Cache>)._command !== 'function') {
      throw new InvalidOptionError('new RateLimiter(cache, options): cache must be a ferrocache Cache')
    }
    const o = (options ?? {}) as Partial<RateLimiterOptions>
    for (const k of Object.keys(o)) {
      if (!['limit', 'window', 'algorithm', 'failOpen', 'name'].includes(k)) {
        throw new InvalidOptionError(`option \`${k}\` is not a RateLimiter option`)
      }
    }
    if (typeof o.limit !== 'number' || !Number.isInteger(o.limit) || o.limit < 1 || o.limit > 2 ** 31) {
      throw new InvalidOptionError(`option \`limit\` must be an integer ≥ 1, got ${String(o.limit)}`)
    }
    if (
      typeof o.window !== 'number' ||
      !Number.isFinite(o.window) ||
      o.window < 0.001 ||
      o.window > 2 ** 31
    ) {
      throw new InvalidOptionError(
        `option \`window\` must be a number of seconds ≥ 0.001, got ${String(o.window)}`,
      )
    }
    const algorithm = o.algorithm ?? 'sliding-window'
    if (!Object.prototype.hasOwnProperty.call(SCRIPTS, algorithm)) {
      throw new InvalidOptionError(
        `option \`algorithm\` must be 'sliding-window', 'fixed-window' or 'token-bucket', got ${String(algorithm)}`,
      )
    }
    if (o.failOpen !== undefined && typeof o.failOpen !== 'boolean') {
      throw new InvalidOptionError('option `failOpen` must be a boolean')
    }
    if (o.name !== undefined && (typeof o.name !== 'string' || o.name === '')) {
      throw new InvalidOptionError('option `name` must be a non-empty string')
    }
    if (o.name !== undefined) checkWellFormed('name', o.name as string)
    this.max = o.limit
    this.winMs = Math.round(o.window * 1000)
    this.algorithm = algorithm
    this.failOpen = o.failOpen ?? true
    this.memoryOnly = cache._mode === 'memory'
    this.keyBase = `ratelimit:${algorithm}:${o.name === undefined ? '' : o.name + ':'}`
  }

  /**
   * Counts one request of `id` and says whether it is admitted. Rejects with `E_INVALID_KEY` for an
   * empty id; never rejects for an unreachable Valkey (see `failOpen`).
   *
   * @example
   * ```ts
   * const r = await limiter.limit(userId)
   * if (!r.success) throw new Error(`retry after ${new Date(r.reset).toISOString()}`)
   * ```
   */
  limit(id: string): Promise<RateLimitResult> {
    if (typeof id !== 'string' || id === '') {
      return Promise.reject(new InvalidKeyError('limit(id) takes a non-empty string identifier'))
    }
    if (!wellFormed(id)) {
      // A lone surrogate has no UTF-8 form: two such ids would share one counter.
      return Promise.reject(
        new InvalidKeyError(
          'limit(id): the id holds a lone UTF-16 surrogate; ids must be well-formed Unicode',
        ),
      )
    }
    const key = this.cache.prefix + this.keyBase + id
    // Checked per call: one oversized id must not fail the other calls of its batch.
    if (Buffer.byteLength(key) > this.cache._options.maxKeyBytes) {
      return Promise.reject(
        new InvalidKeyError(
          `limit(id): the key (${Buffer.byteLength(key)} bytes with prefix) is longer than maxKeyBytes (${this.cache._options.maxKeyBytes})`,
        ),
      )
    }
    if (this.memoryOnly) return Promise.resolve(this.settle(this.inMemory(key, Date.now()), 0))
    return new Promise((resolve, reject) => {
      if (this.queue.push({ key, resolve, reject }) === 1) queueMicrotask(this.flush)
    })
  }

  /**
   * Sends the calls queued during this turn: one script per batch of up to {@link MAX_BATCH} keys
   * (standalone), or per batch of keys sharing a hash slot (cluster). Valkey runs each batch
   * atomically, so the counts stay exact; it does one script call where the usual client does N.
   */
  private readonly flush = (): void => {
    const queue = this.queue
    this.queue = []
    let groups: Pending[][]
    if (this.cache._mode !== 'cluster') groups = [queue]
    else {
      const bySlot = new Map<number, Pending[]>()
      for (const p of queue) {
        const slot = keySlot(p.key)
        const g = bySlot.get(slot)
        if (g === undefined) bySlot.set(slot, [p])
        else g.push(p)
      }
      groups = [...bySlot.values()]
    }
    const args = [String(this.max), String(this.winMs)]
    const script = SCRIPTS[this.algorithm]
    for (const group of groups) {
      for (let i = 0; i < group.length; i += MAX_BATCH) {
        const batch = group.length <= MAX_BATCH ? group : group.slice(i, i + MAX_BATCH)
        runScript(
          this.cache,
          script,
          batch.map((p) => p.key),
          args,
        ).then(
          (reply) => {
            if (Array.isArray(reply) && reply.length === 3 * batch.length) this.answer(batch, reply, 0)
            else {
              // Never a silent verdict from a reply of the wrong shape (a foreign script under our sha).
              const err = new CacheError(
                'E_SERVER',
                `rate limit script: unexpected reply for ${batch.length} keys`,
              )
              for (const p of batch) p.reject(err)
            }
          },
          (e: unknown) => {
            for (const p of batch) {
              try {
                p.resolve(this.unreachable(e))
              } catch (err) {
                p.reject(err)
              }
            }
          },
        )
      }
    }
  }

  /**
   * Resolves a batch's callers {@link ANSWER_CHUNK} at a time, a microtask apart: the calls the first
   * ones make next leave for Valkey (their own batch) while the rest are still being answered, so
   * Valkey and this thread work at the same time instead of taking turns.
   */
  private answer(batch: Pending[], reply: number[], from: number): void {
    const to = Math.min(batch.length, from + ANSWER_CHUNK)
    for (let j = from; j < to; j++) batch[j].resolve(this.settle(reply, 3 * j))
    if (to < batch.length) queueMicrotask(() => this.answer(batch, reply, to))
  }

  /** The answer when the script failed: by `failOpen` for an unreachable Valkey; other errors throw. */
  private unreachable(e: unknown): RateLimitResult {
    if (!(e instanceof CacheError && (e.code === 'E_CONNECTION' || e.code === 'E_TIMEOUT'))) throw e
    const now = Date.now()
    if (this.failOpen) {
      this.counters.failedOpen++
      return { success: true, limit: this.max, remaining: this.max, reset: now, reason: 'failed-open' }
    }
    this.counters.failedClosed++
    return { success: false, limit: this.max, remaining: 0, reset: now + this.winMs, reason: 'failed-closed' }
  }

  /** One call's result from a script reply: [ok, remaining, reset] at `at`. */
  private settle(reply: number[], at: number): RateLimitResult {
    const success = reply[at] === 1
    if (success) this.counters.allowed++
    else this.counters.denied++
    return { success, limit: this.max, remaining: Math.max(0, reply[at + 1]), reset: reply[at + 2] }
  }

  /**
   * Counters since creation (synchronous).
   *
   * @example
   * ```ts
   * const { allowed, denied, failedOpen } = limiter.stats()
   * ```
   */
  stats(): RateLimiterStats {
    return { ...this.counters }
  }

  /** The scripts' arithmetic, in process (memory-only caches). Returns [ok, remaining, reset]. */
  private inMemory(key: string, now: number): [number, number, number] {
    const mem = this.memory()
    if (++mem.calls % 1000 === 0) for (const [k, s] of mem.map) if (s.expiresAt <= now) mem.map.delete(k)
    let s = mem.map.get(key)
    if (s !== undefined && s.expiresAt <= now) s = undefined
    const limit = this.max
    const win = this.winMs
    const put = (a: number, b: number, c: number, expiresAt: number): void => {
      mem.map.set(key, { a, b, c, expiresAt })
    }
    if (this.algorithm === 'token-bucket') {
      const rate = limit / win
      let tokens = s ? s.a : limit
      const ts = s ? s.b : now
      if (now > ts) tokens = Math.min(limit, tokens + (now - ts) * rate)
      let ok = 0
      if (tokens >= 1) {
        tokens -= 1
        ok = 1
        put(tokens, now, 0, now + Math.ceil((limit - tokens) / rate) + 1)
      }
      const reset = tokens < limit ? now + Math.ceil((1 - (tokens - Math.floor(tokens))) / rate) : now
      return [ok, Math.floor(tokens), reset]
    }
    const start = now - (now % win)
    if (this.algorithm === 'fixed-window') {
      let n = s && s.a === start ? s.b : 0
      if (n >= limit) return [0, 0, start + win]
      n++
      put(start, n, 0, start + win)
      return [1, limit - n, start + win]
    }
    let cur = 0
    let prev = 0
    if (s && s.a === start) [cur, prev] = [s.b, s.c]
    else if (s && s.a === start - win) prev = s.b
    const weight = (win - (now - start)) / win
    if (cur + 1 + prev * weight > limit + 1e-9) {
      if (cur + 1 > limit) return [0, 0, start + win + Math.ceil(win / limit)]
      return [0, 0, Math.ceil(start + win - ((limit - cur - 1) * win) / prev)]
    }
    cur++
    put(start, cur, prev, start + 2 * win)
    return [1, Math.floor(limit - cur - prev * weight), start + win]
  }

  private memory(): { map: Map<string, MemState>; calls: number } {
    const owner = this.cache._options as object
    let m = memories.get(owner)
    if (m === undefined) memories.set(owner, (m = { map: new Map(), calls: 0 }))
    return m
  }
}
