/**
 * What a cache knows about itself beyond counters: latency histograms (get, set, getOrSet loads),
 * per-procedure tRPC stats, its write-behind writers' counters, and whether Valkey is reachable — with events and one log line per
 * transition. Shared by all namespaces of one `Cache`.
 */
import { performance } from 'node:perf_hooks'
import { REQUEST_KINDS, type TransportObserver } from '../boundary/transport'

/** Histogram bucket upper bounds, in seconds: 100 µs … 10 s (a cache answers in well under 1 ms). */
export const LATENCY_BUCKETS_S = [
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
] as const

/** A Prometheus-style cumulative histogram of durations in seconds. */
export class Histogram {
  /** Non-cumulative counts per bucket; the last slot is +Inf. */
  readonly counts = new Float64Array(LATENCY_BUCKETS_S.length + 1)
  sum = 0
  count = 0

  observe(seconds: number): void {
    let i = 0
    while (i < LATENCY_BUCKETS_S.length && seconds > LATENCY_BUCKETS_S[i]) i++
    this.counts[i]++
    this.sum += seconds
    this.count++
  }

  /** [upper bound, cumulative count] pairs, ending with +Inf. */
  cumulative(): [number, number][] {
    const out: [number, number][] = []
    let acc = 0
    for (let i = 0; i <= LATENCY_BUCKETS_S.length; i++) {
      acc += this.counts[i]
      out.push([i < LATENCY_BUCKETS_S.length ? LATENCY_BUCKETS_S[i] : Infinity, acc])
    }
    return out
  }
}

/** Per-procedure counters of the tRPC cache middleware. */
export interface ProcedureStats {
  hits: number
  misses: number
  staleServed: number
  /** Resolver runs (cache misses that loaded) and their total duration, in seconds. */
  loads: number
  loadSeconds: number
}

/** At most this many procedure paths are tracked; the rest are counted under `OTHER_PROCEDURE`. */
export const MAX_PROCEDURES = 200
export const OTHER_PROCEDURE = '__other__'

/** What `cache.on(…)` listeners receive. */
export type CacheEvent =
  | { type: 'down'; error: string; at: Date }
  | { type: 'up'; downForMs: number; at: Date }
  | { type: 'error'; code: string; at: Date }
  | { type: 'stale'; key: string; at: Date }
export type CacheEventType = CacheEvent['type']
export type CacheEventListener<T extends CacheEventType = CacheEventType> = (
  event: Extract<CacheEvent, { type: T }>,
) => void

/** Where the default down/up lines go: `console.warn`-like, or `false` for none. */
export type Logger = false | { warn(message: string): void; info?(message: string): void }

/**
 * At most two down/up log lines (one outage: its down and its up line) per this many ms; transitions
 * beyond that are summarised in one catch-up line when the window ends (a flapping link).
 */
export const LOG_INTERVAL_MS = 10_000

const CONNECTION_CODES = new Set(['E_CONNECTION', 'E_TIMEOUT'])

/** A write-behind writer's counters, as the exposition reads them. */
export interface WriterCounts {
  journaled: number
  flushed: number
  retries: number
  deadLettered: number
  pending: number
}

/** The write-behind writers of one cache, for the exposition: live ones, and what closed ones counted. */
export class WriterRegistry {
  private readonly live = new Set<{ readonly name: string; stats(): WriterCounts }>()
  private readonly closed = new Map<string, WriterCounts>()

  add(w: { readonly name: string; stats(): WriterCounts }): () => void {
    this.live.add(w)
    return () => {
      if (!this.live.delete(w)) return
      // Counters never go down: a closed writer's counts stay in its name's totals (its backlog does not).
      const t = this.closed.get(w.name) ?? {
        journaled: 0,
        flushed: 0,
        retries: 0,
        deadLettered: 0,
        pending: 0,
      }
      const s = w.stats()
      this.closed.set(w.name, {
        journaled: t.journaled + s.journaled,
        flushed: t.flushed + s.flushed,
        retries: t.retries + s.retries,
        deadLettered: t.deadLettered + s.deadLettered,
        pending: 0,
      })
    }
  }

  /** Counts by writer name (writers sharing a name summed), sorted by name. */
  byName(): [string, WriterCounts][] {
    const out = new Map<string, WriterCounts>()
    for (const [name, c] of this.closed) out.set(name, { ...c })
    for (const w of this.live) {
      const s = w.stats()
      const t = out.get(w.name)
      if (t === undefined) out.set(w.name, { ...s })
      else for (const k of Object.keys(s) as (keyof WriterCounts)[]) t[k] += s[k]
    }
    return [...out].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
  }
}

export class Telemetry implements TransportObserver {
  readonly get = new Histogram()
  readonly set = new Histogram()
  readonly load = new Histogram()
  readonly procedures = new Map<string, ProcedureStats>()
  readonly writers = new WriterRegistry()
  /** OpenTelemetry instruments, when the API is installed. */
  otel?: { recordDuration(operation: string, seconds: number): void }
  /** False from the first connection failure until a request succeeds again. */
  up = true
  private downSince = 0
  private readonly listeners = new Map<CacheEventType, Set<CacheEventListener>>()
  /** When the two most recent lines were written (performance.now()). */
  private logTimes = [-Infinity, -Infinity]
  private loggedUp = true
  private suppressed = 0
  private pendingLog?: NodeJS.Timeout

  constructor(
    private readonly logger: Logger,
    /** Where the store is, without credentials, for the log line. */
    private readonly where: string,
    private readonly name: string,
    private readonly logIntervalMs = LOG_INTERVAL_MS,
  ) {}

  completed(kind: number, startedMs: number, errorCode: string | undefined): void {
    if (errorCode === undefined) {
      const s = (performance.now() - startedMs) / 1000
      if (kind === REQUEST_KINDS.get) {
        this.get.observe(s)
        this.otel?.recordDuration('get', s)
      } else if (kind === REQUEST_KINDS.set) {
        this.set.observe(s)
        this.otel?.recordDuration('set', s)
      }
      if (!this.up) this.markUp()
      return
    }
    if (this.listeners.has('error')) this.emit({ type: 'error', code: errorCode, at: new Date() })
    if (CONNECTION_CODES.has(errorCode) && this.up) this.markDown(errorCode)
  }

  /** A health check's outcome (health(), metrics()). */
  pinged(ok: boolean, error?: string): void {
    if (ok && !this.up) this.markUp()
    else if (!ok && this.up) this.markDown(error ?? 'E_CONNECTION')
  }

  on(type: CacheEventType, fn: CacheEventListener): void {
    let set = this.listeners.get(type)
    if (set === undefined) this.listeners.set(type, (set = new Set()))
    set.add(fn)
  }

  off(type: CacheEventType, fn: CacheEventListener): void {
    const set = this.listeners.get(type)
    set?.delete(fn)
    if (set?.size === 0) this.listeners.delete(type)
  }

  wants(type: CacheEventType): boolean {
    return this.listeners.has(type)
  }

  emit(event: CacheEvent): void {
    const set = this.listeners.get(event.type)
    if (set === undefined) return
    for (const fn of set) {
      try {
        fn(event as never)
      } catch {
        // A listener's bug must not break the request that triggered the event.
      }
    }
  }

  /** Counts one tRPC procedure outcome (bounded number of paths). */
  procedure(path: string): ProcedureStats {
    let s = this.procedures.get(path)
    if (s === undefined) {
      if (this.procedures.size >= MAX_PROCEDURES && path !== OTHER_PROCEDURE)
        return this.procedure(OTHER_PROCEDURE)
      s = { hits: 0, misses: 0, staleServed: 0, loads: 0, loadSeconds: 0 }
      this.procedures.set(path, s)
    }
    return s
  }

  close(): void {
    if (this.pendingLog !== undefined) clearTimeout(this.pendingLog)
    this.pendingLog = undefined
  }

  private markDown(error: string): void {
    this.up = false
    this.downSince = Date.now()
    this.emit({ type: 'down', error, at: new Date() })
    this.log()
  }

  private markUp(): void {
    this.up = true
    const downForMs = Date.now() - this.downSince
    this.emit({ type: 'up', downForMs, at: new Date() })
    this.log()
  }

  /** One line per transition, at most one per interval; a summary line catches up after a flap. */
  private log(): void {
    if (this.logger === false) return
    const now = performance.now()
    const oldest = this.logTimes[0]
    if (now - oldest < this.logIntervalMs) {
      this.suppressed++
      if (this.pendingLog === undefined) {
        this.pendingLog = setTimeout(
          () => {
            this.pendingLog = undefined
            if (this.up !== this.loggedUp) this.write()
            else this.suppressed = 0
          },
          this.logIntervalMs - (now - oldest),
        )
        this.pendingLog.unref()
      }
      return
    }
    this.write()
  }

  private write(): void {
    if (this.logger === false) return
    this.logTimes = [this.logTimes[1], performance.now()]
    this.loggedUp = this.up
    const flaps = this.suppressed > 0 ? ` (${this.suppressed} more transitions in the last interval)` : ''
    this.suppressed = 0
    const who = `ferrocache${this.name ? ` [${this.name}]` : ''}`
    if (this.up) {
      const line = `${who}: Valkey at ${this.where} is reachable again; caching resumed${flaps}`
      ;(this.logger.info ?? this.logger.warn).call(this.logger, line)
    } else {
      this.logger.warn(
        `${who}: Valkey at ${this.where} is unreachable; requests run uncached until it is back${flaps}`,
      )
    }
  }
}

/** `host:port` list of a URL or seed list, never the credentials. */
export function describeTarget(url: string | undefined, nodes: string[] | undefined): string {
  const strip = (u: string): string => {
    try {
      const x = new URL(u)
      return x.host
    } catch {
      return '(invalid url)'
    }
  }
  if (url !== undefined) return strip(url)
  if (nodes !== undefined) return nodes.map(strip).join(',')
  return 'memory'
}
