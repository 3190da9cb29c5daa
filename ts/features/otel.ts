/**
 * OpenTelemetry, when the app has `@opentelemetry/api` (an optional peer): a span per `getOrSet`
 * (attributes `cache.hit`, `cache.stale`, `cache.coalesced`, database-client conventions with
 * `db.system.name` = `valkey`) and metric instruments mirroring the Prometheus families. Without
 * the package nothing is loaded and nothing is recorded. The API's no-op default applies until the
 * app registers an SDK (in Next.js: `instrumentation.ts`), so registering after the cache was built
 * works too: tracer and meter are looked up through the global API.
 */
import type { CacheStats } from './metrics'

/* The parts of @opentelemetry/api used here, typed locally so the package's .d.ts files never
   reference a module the app may not have installed. */
interface Span {
  isRecording?(): boolean
  setAttribute(k: string, v: string | number | boolean): void
  setStatus(s: { code: number; message?: string }): void
  recordException(e: unknown): void
  end(): void
}
interface Api {
  trace: {
    getTracer(
      name: string,
      version?: string,
    ): {
      startSpan(
        name: string,
        o: { kind: number; attributes: Record<string, string | number | boolean> },
      ): Span
    }
    setSpan(ctx: unknown, span: Span): unknown
  }
  context: { active(): unknown; with<T>(ctx: unknown, fn: () => T): T }
  metrics: { getMeter(name: string, version?: string): Meter }
  SpanKind: { CLIENT: number }
  SpanStatusCode: { ERROR: number }
}
interface Meter {
  createHistogram(
    name: string,
    o: { description: string; unit: string; advice?: unknown },
  ): {
    record(v: number, attrs: Record<string, string | number | boolean>): void
  }
  createObservableCounter(name: string, o: { description: string; unit?: string }): Observable
  createObservableGauge(name: string, o: { description: string; unit?: string }): Observable
}
interface Observable {
  addCallback(
    cb: (r: { observe(v: number, attrs: Record<string, string | number | boolean>): void }) => void,
  ): void
}

let api: Api | null | undefined

/** `@opentelemetry/api` if the app has it, else null (looked up once). */
export function otelApi(): Api | null {
  if (api === undefined) {
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      api = require('@opentelemetry/api') as Api
    } catch {
      api = null
    }
  }
  return api
}

const SCOPE = 'ferrocache'

/** One cache's OpenTelemetry side; `undefined` when the API is not installed. */
export class OtelBridge {
  private readonly base: Record<string, string | number | boolean>
  /**
   * Attributes built once and shared by every span and measurement (the SDK copies them): a
   * spread per request was most of what an unregistered OpenTelemetry cost on a cache hit.
   */
  private readonly spanOptions: { kind: number; attributes: Record<string, string | number | boolean> }
  private readonly durationAttrs = new Map<string, Record<string, string | number | boolean>>()
  /** The API's proxy tracer: it follows an SDK registered later, so one lookup is enough. */
  private tracer?: ReturnType<Api['trace']['getTracer']>
  private duration?: ReturnType<Meter['createHistogram']>
  private meterReady = false

  private constructor(
    private readonly api: Api,
    name: string,
    server: { address?: string; port?: number },
    private readonly stats: () => CacheStats,
  ) {
    this.base = { 'db.system.name': 'valkey', 'db.namespace': name }
    if (server.address !== undefined) this.base['server.address'] = server.address
    if (server.port !== undefined) this.base['server.port'] = server.port
    this.spanOptions = {
      kind: api.SpanKind.CLIENT,
      attributes: Object.freeze({ ...this.base, 'db.operation.name': 'getOrSet' }),
    }
  }

  static create(name: string, server: { address?: string; port?: number }, stats: () => CacheStats) {
    const a = otelApi()
    return a === null ? undefined : new OtelBridge(a, name, server, stats)
  }

  /** Starts the span of one getOrSet call; `run` calls the loader inside it. */
  startGetOrSet(): Span {
    this.ensureMeter()
    this.tracer ??= this.api.trace.getTracer(SCOPE)
    return this.tracer.startSpan('getOrSet', this.spanOptions)
  }

  /** Runs `fn` with `span` as the active span (loader spans become its children). */
  within<T>(span: Span, fn: () => T): T {
    return this.api.context.with(this.api.trace.setSpan(this.api.context.active(), span), fn)
  }

  endGetOrSet(span: Span, r: { hit: boolean; stale: boolean; coalesced: boolean; error?: unknown }): void {
    span.setAttribute('cache.hit', r.hit)
    span.setAttribute('cache.stale', r.stale)
    span.setAttribute('cache.coalesced', r.coalesced)
    if (r.error !== undefined) {
      span.recordException(r.error)
      span.setStatus({ code: this.api.SpanStatusCode.ERROR, message: (r.error as Error)?.message })
      const code = (r.error as { code?: unknown })?.code
      span.setAttribute('error.type', typeof code === 'string' ? code : 'loader')
    }
    span.end()
  }

  /** One timed operation: `db.client.operation.duration` (seconds), like the Prometheus histograms. */
  recordDuration(operation: string, seconds: number): void {
    this.ensureMeter()
    let attrs = this.durationAttrs.get(operation)
    if (attrs === undefined) {
      attrs = Object.freeze({ ...this.base, 'db.operation.name': operation })
      this.durationAttrs.set(operation, attrs)
    }
    this.duration?.record(seconds, attrs)
  }

  /** Counters are observed on collection (no cost between collections). */
  private ensureMeter(): void {
    if (this.meterReady) return
    this.meterReady = true
    const meter = this.api.metrics.getMeter(SCOPE)
    this.duration = meter.createHistogram('db.client.operation.duration', {
      description: 'Duration of ferrocache operations (get, set, getOrSet loads).',
      unit: 's',
      advice: { explicitBucketBoundaries: [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10] },
    })
    const counters: [Exclude<keyof CacheStats, 'procedures'>, string, string][] = [
      ['hits', 'ferrocache.hits', 'Reads that found a value.'],
      ['misses', 'ferrocache.misses', 'Reads that found nothing.'],
      ['sets', 'ferrocache.sets', 'Values written.'],
      ['loads', 'ferrocache.loads', 'Loader calls made by getOrSet.'],
      ['loadErrors', 'ferrocache.load_errors', 'Loader calls that failed.'],
      ['coalesced', 'ferrocache.coalesced', "getOrSet calls that shared another call's load."],
      ['staleServed', 'ferrocache.stale_served', 'Stale values served within grace.'],
      ['errors', 'ferrocache.errors', 'Failed operations.'],
    ]
    for (const [field, name, description] of counters) {
      meter
        .createObservableCounter(name, { description })
        .addCallback((r) => r.observe(this.stats()[field], this.base))
    }
    const perProcedure: ['hits' | 'misses' | 'staleServed' | 'loads' | 'loadSeconds', string, string][] = [
      ['hits', 'ferrocache.trpc.hits', 'tRPC cached calls answered from the cache.'],
      ['misses', 'ferrocache.trpc.misses', 'tRPC cached calls that ran the resolver.'],
      ['staleServed', 'ferrocache.trpc.stale_served', 'tRPC calls answered with a stale value.'],
      ['loads', 'ferrocache.trpc.loads', 'tRPC resolver runs for the cache.'],
      ['loadSeconds', 'ferrocache.trpc.load_time', 'Time spent in those resolver runs.'],
    ]
    for (const [field, name, description] of perProcedure) {
      meter
        .createObservableCounter(name, { description, ...(field === 'loadSeconds' ? { unit: 's' } : {}) })
        .addCallback((r) => {
          for (const [path, p] of Object.entries(this.stats().procedures ?? {})) {
            r.observe(p[field], { ...this.base, 'trpc.procedure': path })
          }
        })
    }
    meter
      .createObservableGauge('ferrocache.hit_ratio', { description: 'hits / (hits + misses).', unit: '1' })
      .addCallback((r) => r.observe(this.stats().hitRate, this.base))
  }
}

/** `host`/`port` of the first URL, for `server.address` / `server.port`. */
export function serverOf(
  url: string | undefined,
  nodes: string[] | undefined,
): { address?: string; port?: number } {
  const u = url ?? nodes?.[0]
  if (u === undefined) return {}
  try {
    const x = new URL(u)
    return { address: x.hostname, port: Number(x.port || 6379) }
  } catch {
    return {}
  }
}
