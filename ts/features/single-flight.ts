/**
 * `getOrSet`: one load per key per process (in-process flights) and one per lease across
 * processes (a Valkey lock per key: SET NX PX with a random token, renewed while the loader runs,
 * released by its owner only). Waiters are woken over pub/sub when the owner finishes — success
 * or failure — and re-check; if the owner dies, its lease expires and one waiter takes over.
 * Grace: stale values are served while one background refresh runs (stale-while-revalidate) and
 * when the loader fails or Valkey is down (fail-safe).
 */
import { randomBytes } from 'node:crypto'
import type { Codec, Encoded } from '../core/codec'
import { CacheError, InvalidValueError, codecToCacheError } from '../core/errors'
import { GraceMemory } from '../tiers/grace-memory'
import { callLoader, Context, TIMED_OUT, within, type LoaderContext } from './loader'
import { DOWN, MISS, Stale, type Transport } from '../boundary/transport'
import { encodeKey, BUS_CHANNEL } from './bus'
import { L1_MISS, type L1 } from '../tiers/l1'
import { RELEASE, RENEW, Waiter, type Lease } from './lease'
import { due, newEnough, type Ahead } from './refresh-ahead'
import { lockKeyOf } from './tags'

export type Loader = (ctx: LoaderContext) => unknown

/** Counters shared with `stats()`. */
export interface FlightCounters {
  loads: number
  loadErrors: number
  coalesced: number
  lockWaits: number
  staleServed: number
  /** Refresh-ahead loads run here (background, under the lease). */
  refreshes: number
  /** Refresh-ahead loads that failed (the current value stayed in place). */
  refreshErrors: number
}

/** A resolved `getOrSet` plan (all times in ms). */
export interface Plan {
  ttlMs: number
  /** Marker keys of the entry's tags. */
  markers?: Buffer[]
  graceMs: number
  timeoutMs?: number
  lockTtlMs: number
  lockWaitMs: number
  hardTimeoutMs: number
  /** Refresh-ahead: a hit within this many ms of the entry's expiry starts a background refresh. */
  refreshWithinMs?: number
  /** Set per call when someone observes how it was answered (events, OpenTelemetry). */
  trace?: FlightTrace
}

/** How one `getOrSet` call was answered (features/telemetry.ts reads it). */
export interface FlightTrace {
  coalesced: boolean
  stale: boolean
}

export class SingleFlight {
  private readonly flights = new Map<string, Promise<unknown>>()
  private readonly refreshing = new Set<string>()
  private readonly waiters = new Map<string, Set<Waiter>>()
  private readonly memory = new GraceMemory(1000)
  /** Keys written through while a load of theirs ran here: that load's value is not cached. */
  private readonly fenced = new Set<string>()
  private bus?: Promise<void>
  /** The bus was subscribed at least once (it may have been started by the L1 tier). */
  private busUp = false
  private busSubscribed?: () => void
  /** Set by the cache when the in-process tier is on. */
  l1?: L1

  constructor(
    private readonly t: Transport,
    private readonly codec: Codec,
    private readonly counters: FlightCounters,
    private readonly distributed: boolean,
    private readonly opts: { connectTimeoutMs: number; tagTtlMs: number },
    private readonly toMarkers: (tags: unknown) => Buffer[],
  ) {}

  run(key: string, loader: Loader, plan: Plan): Promise<unknown> {
    if (this.l1 !== undefined) {
      const hit = this.l1.get(key)
      if (hit !== L1_MISS) return Promise.resolve(hit)
    }
    const flight = this.flights.get(key)
    if (flight !== undefined) {
      this.counters.coalesced++
      if (plan.trace) plan.trace.coalesced = true
      return flight
    }
    // Reads are not tracked: concurrent reads of one key share the pipeline (one round trip), and
    // hits settle the caller's Promise straight from the read — no Map entry, no async frame (a Map
    // of pending Promises measurably pushed garbage into the old generation). Only loads are shared.
    return new Promise((settle, fail) => {
      this.t.getEntryThen(
        key,
        (entry) => {
          if (entry !== MISS && entry !== DOWN && !(entry instanceof Stale)) {
            // The entry's age comes with the read (its fresh-until time): no extra round trip.
            if (plan.refreshWithinMs !== undefined && due(this.t.lastUntil, plan)) {
              this.refreshAhead(key, entry, loader, plan)
            }
            settle(entry)
          } else settle(this.joinOrLoad(key, entry, loader, plan))
        },
        fail,
      )
    })
  }

  /** After a read that found nothing fresh: join the load in flight for the key, or start it. */
  private joinOrLoad(key: string, entry: unknown, loader: Loader, plan: Plan): Promise<unknown> {
    const flight = this.flights.get(key)
    if (flight !== undefined) {
      this.counters.coalesced++
      if (plan.trace) plan.trace.coalesced = true
      return flight
    }
    const p = this.afterMiss(key, entry, loader, plan)
    this.flights.set(key, p)
    const done = (): void => {
      if (this.flights.get(key) === p) this.flights.delete(key)
      if (!this.refreshing.has(key)) this.fenced.delete(key)
    }
    p.then(done, done)
    return p
  }

  /** Not fresh: serve stale (with grace) or load. */
  private async afterMiss(key: string, entry: unknown, loader: Loader, plan: Plan): Promise<unknown> {
    let stale: Stale | undefined
    if (entry instanceof Stale) stale = entry
    else if (entry === DOWN) stale = this.recall(key)
    if (stale !== undefined && plan.graceMs > 0 && entry instanceof Stale) {
      this.counters.staleServed++
      if (plan.trace) plan.trace.stale = true
      this.refreshInBackground(key, loader, plan, stale)
      return stale.value
    }
    return this.load(key, loader, plan, plan.graceMs > 0 ? stale : undefined, entry === DOWN)
  }

  private recall(key: string): Stale | undefined {
    const enc = this.memory.recall(key, Date.now())
    if (enc === undefined) return undefined
    const bytes = typeof enc.data === 'string' ? Buffer.from(enc.data, 'utf8') : Buffer.from(enc.data)
    return new Stale(this.codec.decode(enc.codec, bytes, 0, bytes.length))
  }

  private refreshInBackground(key: string, loader: Loader, plan: Plan, stale: Stale): void {
    if (this.refreshing.has(key)) return
    this.refreshing.add(key)
    // The loader sees the expired value (`ctx.stale`) as in any load within grace; the caller
    // already got it, so a failing refresh is only counted.
    this.load(key, loader, plan, stale, false, true)
      .catch(() => {}) // counted in loadErrors; the stale value was already served
      .finally(() => {
        this.refreshing.delete(key)
        if (!this.flights.has(key)) this.fenced.delete(key)
      })
  }

  /**
   * A hit past its refresh point: one background load per key here, and under the lease one
   * across processes; the caller already has the current value. A failure leaves it in place.
   */
  private refreshAhead(key: string, value: unknown, loader: Loader, plan: Plan): void {
    if (this.refreshing.has(key) || this.flights.has(key)) return
    this.refreshing.add(key)
    this.load(key, loader, plan, undefined, false, { value })
      .catch(() => this.counters.refreshErrors++)
      .finally(() => {
        this.refreshing.delete(key)
        if (!this.flights.has(key)) this.fenced.delete(key)
      })
  }

  /** Loads under the lease (or without one when Valkey is down or in memory mode). */
  private async load(
    key: string,
    loader: Loader,
    plan: Plan,
    stale: Stale | undefined,
    down: boolean,
    background: boolean | Ahead = false,
  ): Promise<unknown> {
    const ahead = typeof background === 'object' ? background : undefined
    if (!this.distributed || down) return this.loadHere(key, loader, plan, stale, undefined, background)
    await this.ensureBus()
    const lockKey = lockKeyOf(key)
    const deadline = Date.now() + plan.lockWaitMs
    let waited = false
    for (;;) {
      const token = randomBytes(16).toString('hex')
      const waiter = this.arm(key)
      let got: unknown, pttl: unknown, entry: unknown
      let until = 0
      try {
        ;[got, pttl, entry] = await Promise.all([
          this.t.command(lockKey, ['SET', lockKey, token, 'NX', 'PX', String(plan.lockTtlMs)]),
          this.t.command(lockKey, ['PTTL', lockKey]),
          // A re-check, not a lookup of its own: the call's first read already counted.
          ahead === undefined
            ? this.t.getEntry(key, false)
            : new Promise((resolve, reject) =>
                this.t.getEntryThen(
                  key,
                  (e) => {
                    until = this.t.lastUntil
                    resolve(e)
                  },
                  reject,
                  false,
                ),
              ),
        ])
      } catch {
        this.disarm(key, waiter)
        if (ahead !== undefined) throw new CacheError('E_CONNECTION', 'cannot take the refresh lease')
        return this.loadHere(key, loader, plan, stale, undefined, background) // cannot lock: load here
      }
      const hit = entry !== MISS && entry !== DOWN && !(entry instanceof Stale)
      // A refresh-ahead is done when the entry read under the lock is no longer due (someone refreshed it).
      if (hit && (ahead === undefined || newEnough(until, plan, ahead))) {
        // Loaded by someone else since our first read (their lease may already be gone).
        this.disarm(key, waiter)
        if (got === 'OK') this.release(key, { lockKey, token }, false)
        return entry
      }
      if (got === 'OK') {
        this.disarm(key, waiter)
        return this.loadHere(key, loader, plan, stale, { lockKey, token }, background)
      }
      if (background) {
        this.disarm(key, waiter)
        return undefined // another process is refreshing already
      }
      if (!waited) {
        waited = true
        this.counters.lockWaits++
      }
      const left = deadline - Date.now()
      if (left <= 0) {
        this.disarm(key, waiter)
        if (stale !== undefined) {
          this.counters.staleServed++
          if (plan.trace) plan.trace.stale = true
          return stale.value
        }
        throw new CacheError(
          'E_LOCK_TIMEOUT',
          `waited ${plan.lockWaitMs} ms (lockWaitMs) for another process to load "${key}"; raise lockWaitMs or give it grace`,
        )
      }
      // Until the owner's message, or until its lease would expire (owner died), or the bound.
      const lease = typeof pttl === 'number' && pttl > 0 ? pttl + 5 : plan.lockTtlMs
      await waiter.wait(Math.min(lease, left))
      this.disarm(key, waiter)
    }
  }

  private async loadHere(
    key: string,
    loader: Loader,
    plan: Plan,
    stale: Stale | undefined,
    lease: Lease | undefined,
    background: boolean | Ahead = false,
  ): Promise<unknown> {
    const ahead = typeof background === 'object' ? background : undefined
    this.counters.loads++
    if (ahead !== undefined && ahead.since === undefined) this.counters.refreshes++
    const ctx = new Context(plan.ttlMs, ahead ? ahead.value : stale?.value, plan.markers, this.toMarkers)
    let renew: NodeJS.Timeout | undefined
    if (lease !== undefined) {
      renew = setInterval(
        () => {
          this.t
            .command(lease.lockKey, ['EVAL', RENEW, '1', lease.lockKey, lease.token, String(plan.lockTtlMs)])
            .catch(() => {})
        },
        Math.max(10, Math.floor(plan.lockTtlMs / 3)),
      )
      renew.unref()
    }
    const loading = callLoader(loader, ctx, plan.hardTimeoutMs)
    const finish = loading.then(
      (value) => this.store(key, value, ctx, plan, lease),
      (err) => {
        this.counters.loadErrors++
        this.release(key, lease)
        throw err
      },
    )
    finish.then(
      () => clearInterval(renew),
      () => clearInterval(renew),
    )
    // A background refresh has served its stale value already: nothing to fall back to here.
    if (background) return finish
    try {
      if (stale !== undefined && plan.timeoutMs !== undefined) {
        const r = await within(finish, plan.timeoutMs)
        if (r === TIMED_OUT) {
          finish.catch(() => {}) // keeps refreshing in the background; errors are counted
          this.counters.staleServed++
          if (plan.trace) plan.trace.stale = true
          return stale.value
        }
        return r
      }
      return await finish
    } catch (err) {
      if (stale !== undefined && !(err instanceof CacheError && err.code === 'E_INVALID_VALUE')) {
        this.counters.staleServed++
        if (plan.trace) plan.trace.stale = true
        return stale.value
      }
      throw err
    }
  }

  /** Writes the loaded value, tells waiters everywhere, and releases the lease: one round trip. */
  private async store(
    key: string,
    value: unknown,
    ctx: Context,
    plan: Plan,
    lease?: Lease,
  ): Promise<unknown> {
    if (this.fenced.has(key)) {
      // Written through while this load ran: its value may predate the write, so it is returned
      // to its callers but not cached (the written value wins).
      this.release(key, lease)
      return value
    }
    let encoded: Encoded
    try {
      if (value === undefined) {
        throw new InvalidValueError('the loader returned undefined; return null to cache "nothing"')
      }
      encoded = this.codec.encode(value)
    } catch (e) {
      this.counters.loadErrors++
      this.release(key, lease)
      // Cycles, functions, symbols, BigInt in json mode, throwing getters: E_SERIALIZE, like set.
      throw codecToCacheError(e)
    }
    let ttlMs = ctx.ttlMs + plan.graceMs
    if (ctx.markers !== undefined && ctx.markers.length > 0) ttlMs = Math.min(ttlMs, this.opts.tagTtlMs)
    const freshMs = plan.graceMs > 0 ? Math.min(ctx.ttlMs, ttlMs) : 0
    const write = this.t.set(key, {
      codecId: encoded.codec,
      data: encoded.data,
      ttlMs,
      freshMs,
      markers: ctx.markers,
    })
    if (this.l1 !== undefined) {
      this.l1.delete([key])
      if (lease === undefined && this.distributed) {
        this.t.command('', ['PUBLISH', BUS_CHANNEL, encodeKey(key)]).catch(() => {})
      }
    }
    this.release(key, lease)
    if (plan.graceMs > 0) this.memory.remember(key, encoded, Date.now() + ttlMs)
    await write.catch((e: CacheError) => {
      if (e.code === 'E_VALUE_TOO_LARGE') throw e
    })
    return value
  }

  /** Publishes "key changed" and frees the lease (same pipeline as the write before it). */
  private release(key: string, lease?: Lease, announce = true): void {
    if (lease === undefined) return
    this.t.command(lease.lockKey, ['EVAL', RELEASE, '1', lease.lockKey, lease.token]).catch(() => {})
    if (announce) this.t.command('', ['PUBLISH', BUS_CHANNEL, encodeKey(key)]).catch(() => {})
  }

  /**
   * Loads a key even when present (a forced warm), under the lease and the in-process flight:
   * resolves true when the loader ran here, false when a load elsewhere made it new already.
   */
  reload(key: string, loader: Loader, plan: Plan): Promise<boolean> {
    const flight = this.flights.get(key)
    if (flight !== undefined) {
      this.counters.coalesced++
      return flight.then(() => false)
    }
    let ran = false
    const counted: Loader = (ctx) => {
      ran = true
      return loader(ctx)
    }
    const p = this.load(key, counted, plan, undefined, false, { value: undefined, since: Date.now() })
    this.flights.set(key, p)
    const done = (): void => {
      if (this.flights.get(key) === p) this.flights.delete(key)
      if (!this.refreshing.has(key)) this.fenced.delete(key)
    }
    p.then(done, done)
    return p.then(() => ran)
  }

  /**
   * Runs `fn` holding the key's getOrSet lease, so no load of the key (here or in another
   * process) is running meanwhile: a load that started earlier finishes and stores first. Waits
   * at most `waitMs` for the lease, then runs `fn` anyway. Loads running here are fenced: their
   * values are not cached. Announces the key when done (waiters re-check, L1s drop it).
   */
  async underLease<T>(key: string, lockTtlMs: number, waitMs: number, fn: () => Promise<T>): Promise<T> {
    if (this.flights.has(key) || this.refreshing.has(key)) this.fenced.add(key)
    this.memory.forget(key)
    if (!this.distributed) return fn()
    await this.ensureBus()
    const lockKey = lockKeyOf(key)
    const deadline = Date.now() + waitMs
    for (;;) {
      const token = randomBytes(16).toString('hex')
      const waiter = this.arm(key)
      let got: unknown, pttl: unknown
      try {
        ;[got, pttl] = await Promise.all([
          this.t.command(lockKey, ['SET', lockKey, token, 'NX', 'PX', String(lockTtlMs)]),
          this.t.command(lockKey, ['PTTL', lockKey]),
        ])
      } catch {
        this.disarm(key, waiter)
        return fn() // Valkey unreachable: fn's own write fails and is handled by the caller
      }
      const left = deadline - Date.now()
      if (got === 'OK' || left <= 0) {
        this.disarm(key, waiter)
        try {
          return await fn()
        } finally {
          if (got === 'OK') this.release(key, { lockKey, token })
        }
      }
      const lease = typeof pttl === 'number' && pttl > 0 ? pttl + 5 : lockTtlMs
      await waiter.wait(Math.min(lease, left))
      this.disarm(key, waiter)
    }
  }

  /** Forgets what this process remembers of a key for fail-safe (its source changed). */
  forget(key: string): void {
    this.memory.forget(key)
  }

  private arm(key: string): Waiter {
    const w = new Waiter()
    let set = this.waiters.get(key)
    if (set === undefined) this.waiters.set(key, (set = new Set()))
    set.add(w)
    return w
  }

  private disarm(key: string, w: Waiter): void {
    const set = this.waiters.get(key)
    if (set === undefined) return
    set.delete(w)
    if (set.size === 0) this.waiters.delete(key)
  }

  /** Subscribes once; waits (bounded) for the subscription so no wake-up is missed. */
  private ensureBus(): Promise<void> {
    if (this.bus === undefined && this.busUp) this.bus = Promise.resolve()
    if (this.bus === undefined) {
      this.bus = new Promise<void>((resolve) => {
        // Ref'd on purpose: a caller awaiting getOrSet must keep the process alive (bounded).
        const timer = setTimeout(resolve, this.opts.connectTimeoutMs)
        this.busSubscribed = () => {
          clearTimeout(timer)
          resolve()
        }
        try {
          this.t.engine.subscribe(BUS_CHANNEL)
        } catch {
          resolve()
        }
      })
    }
    return this.bus
  }

  /** Keys written somewhere: their waiters re-check. */
  wake(keys: readonly string[]): void {
    for (const k of keys) {
      const set = this.waiters.get(k)
      if (set !== undefined) for (const w of set) w.fire()
    }
  }

  /** The server refuses the subscription: stop waiting for it (waiters then wait for the lease to end). */
  busRefused(): void {
    this.busUp = true
    this.busSubscribed?.()
  }

  /** The bus (re)subscribed: anything may have been missed, so every waiter re-checks. */
  subscribed(): void {
    this.busUp = true
    this.busSubscribed?.()
    for (const set of this.waiters.values()) for (const w of set) w.fire()
  }
}

export { lockKeyOf }
