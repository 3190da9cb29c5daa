/**
 * tRPC v11 middlewares: query caching, tag invalidation after mutations, and rate limiting.
 * `@trpc/server` is an optional peer dependency: only its types are imported here, and `TRPCError`
 * is required lazily, so this entry point loads without tRPC installed.
 *
 * Ordering rule: put `.input()` and every middleware that authenticates or builds `ctx` BEFORE
 * `.use(cacheMiddleware(...))` — a cache hit skips everything after it (the resolver included), so
 * whatever must run on every call goes before it. Output validators (`.output()`) placed before the
 * cache middleware check cached values on the way out; placed after it, they check values as they
 * are produced (before they are stored).
 */
import { createHash } from 'node:crypto'
import { performance } from 'node:perf_hooks'
import type { TRPCMiddlewareFunction } from '@trpc/server'
import type { Cache } from './cache'
import { CacheError, InvalidOptionError } from './core/errors'
import { RateLimitedError, type RateLimiter } from './features/rate-limit'
import type { ProcedureStats } from './features/telemetry'

/**
 * A tRPC v11 middleware for `.use()`. Its type parameters are those of the procedure it is used on
 * (root context, meta, context added by earlier middlewares, validated input): TypeScript infers
 * them from the `.use()` call, so `ctx` and `input` in the options are typed without annotations.
 */
export type TRPCMiddleware<
  TCtx = any,
  TMeta = any,
  TCtxIn = object,
  TInput = unknown,
> = TRPCMiddlewareFunction<TCtx, TMeta, TCtxIn, object, TInput>

/** The context a middleware sees: the root context overwritten by what earlier middlewares added. */
export type ContextOf<TCtx, TCtxIn> = TCtxIn extends object ? Omit<TCtx, keyof TCtxIn> & TCtxIn : TCtx

/** What `key`/`tags` functions receive. `input` is the validated input (the raw one if none ran). */
export interface ProcedureInfo<TCtx = any, TInput = unknown> {
  input: TInput
  ctx: TCtx
  path: string
}

/** Options of {@link cacheMiddleware}. */
export interface CacheMiddlewareOptions<TCtx = any, TInput = unknown> {
  /**
   * Required: who may share an entry. `'public'` = every caller; a function of `ctx` returns the
   * sharing group (e.g. the user id) — and `undefined`/`null`/`''` to bypass the cache for that call.
   */
  scope: 'public' | ((ctx: TCtx) => string | number | undefined | null)
  /** Seconds a value is fresh (default: the cache's `ttl`). */
  ttl?: number
  /** Seconds an expired value may still be served while one refresh runs or when the resolver fails. */
  grace?: number
  /** Tags of the entry, for `invalidateTags` / {@link invalidateMiddleware}. */
  tags?: (p: ProcedureInfo<TCtx, TInput>) => string[]
  /** The entry's key (the scope is always added). Default: procedure path + SHA-256 of the raw input. */
  key?: (p: ProcedureInfo<TCtx, TInput>) => string
}

/** Options of {@link invalidateMiddleware}. */
export interface InvalidateMiddlewareOptions<TCtx = any, TInput = unknown> {
  /** Tags to invalidate after a successful mutation; `data` is the mutation's result. */
  tags: (p: ProcedureInfo<TCtx, TInput> & { data: unknown }) => string[] | Promise<string[]>
  /**
   * Called when invalidation still fails after brief retries (Valkey down…) after the mutation
   * succeeded. The mutation's result is returned either way; the failure is counted in
   * `trpcStats().invalidationsDropped` (and logged once when there is no `onError`).
   */
  onError?: (error: unknown, p: ProcedureInfo<TCtx, TInput>) => void
}

/** Delays (ms) before the retries of a failed invalidation in {@link invalidateMiddleware}. */
const INVALIDATE_RETRY_MS = [50, 250]
const trpcCounters = { invalidationsDropped: 0 }
let warnedDrop = false

/** Counters of the tRPC middlewares in this process. */
export interface TrpcStats {
  /** Invalidations given up by `invalidateMiddleware` after its retries (Valkey unreachable). */
  invalidationsDropped: number
}

/**
 * Counters of the tRPC middlewares in this process.
 *
 * @example
 * ```ts
 * import { trpcStats } from 'ferrocache/trpc'
 * if (trpcStats().invalidationsDropped > 0) alert('some mutations could not invalidate the cache')
 * ```
 */
export function trpcStats(): TrpcStats {
  return { ...trpcCounters }
}

/** Options of {@link rateLimitMiddleware}. */
export interface RateLimitMiddlewareOptions<TCtx = any> {
  /** The identifier to count calls of (user id, IP, API key). */
  id: (p: { ctx: TCtx; path: string }) => string | Promise<string>
}

/** The parts of tRPC's middleware options and results this module uses. */
interface Opts {
  ctx: unknown
  type: 'query' | 'mutation' | 'subscription'
  path: string
  input: unknown
  getRawInput: () => Promise<unknown>
  next: () => Promise<Result>
}
type Result = { ok: true; data: unknown } | { ok: false; error: unknown }

/**
 * THE short-circuit workaround (trpc/trpc#4066): tRPC has no public way for a middleware to answer
 * without calling `next()`. In v11 every middleware step resolves `{ marker, ok: true, data }`, the
 * resolver's step builds exactly that object, and the procedure caller only reads `ok` and `data`
 * (`marker` is a compile-time brand nothing checks at run time). So returning that shape from the
 * middleware makes `data` the procedure's result: middlewares before this one (output validators,
 * error formatters) and the transformer still run on it. It is the only place that depends on
 * tRPC's internals; the tests (createCaller and HTTP) fail if a tRPC release changes the shape.
 */
function answer(data: unknown, ctx: unknown): Result {
  return { marker: 'middlewareMarker', ok: true, data, ctx } as Result
}

/** A resolver result the cache must not store (undefined, streams): passed through as is. */
class Uncacheable {
  constructor(readonly result: Result) {}
}

/** Results that could not be stored (codec errors): the call still gets its value, uncached. */
const STORE_ERRORS = new Set(['E_SERIALIZE', 'E_VALUE_TOO_LARGE', 'E_INVALID_VALUE'])

function checkFn(name: string, v: unknown): void {
  if (v !== undefined && typeof v !== 'function')
    throw new InvalidOptionError(`option \`${name}\` must be a function`)
}

/**
 * Caches a tRPC query's result with `cache.getOrSet`: concurrent identical calls run the resolver
 * once (across processes too), `grace` serves stale values while refreshing. Mutations and
 * subscriptions pass through; failing resolvers are never cached. Values come back deep-equal and
 * of the same types as uncached ones (Dates, Maps…) through any transformer.
 *
 * The key is `trpc:<scope>:<path>:<sha256 of the raw input>` — `<scope>` is `public` or `u.` + the
 * URI-encoded scope value; the input hash is key-order independent, Dates, Maps, Sets, BigInts hashed
 * by value — or `trpc:<scope>:<your key>` with `key`. Put `.input()` and auth/context middlewares
 * before it. `ctx` and `input` in `scope`/`key`/`tags` are typed from the procedure it is `.use()`d on.
 *
 * @example
 * ```ts
 * import { cacheMiddleware } from 'ferrocache/trpc'
 * const cachedPublic = t.procedure.use(cacheMiddleware(cache, { scope: 'public', ttl: 60, grace: 600 }))
 * export const router = t.router({
 *   post: cachedPublic.input(z.object({ id: z.string() })).query(({ input }) => db.post.find(input.id)),
 *   me: authed.use(cacheMiddleware(cache, { scope: (ctx) => ctx.user?.id, ttl: 30 })).query(({ ctx }) => loadProfile(ctx.user.id)),
 * })
 * ```
 */
export function cacheMiddleware<TCtx = any, TMeta = any, TCtxIn = object, TInput = unknown>(
  cache: Cache,
  options: CacheMiddlewareOptions<ContextOf<TCtx, TCtxIn>, TInput>,
): TRPCMiddleware<TCtx, TMeta, TCtxIn, TInput> {
  if (!cache || typeof (cache as Partial<Cache>).getOrSet !== 'function') {
    throw new InvalidOptionError('cacheMiddleware(cache, options): cache must be a ferrocache Cache')
  }
  const o = (options ?? {}) as Partial<CacheMiddlewareOptions<ContextOf<TCtx, TCtxIn>, TInput>>
  if (o.scope !== 'public' && typeof o.scope !== 'function') {
    throw new InvalidOptionError(
      "cacheMiddleware: option `scope` is required: 'public' (shared by everyone) or a function of ctx returning the sharing group, e.g. (ctx) => ctx.user?.id",
    )
  }
  for (const n of ['ttl', 'grace'] as const) {
    const v = o[n]
    if (v !== undefined && (typeof v !== 'number' || !Number.isFinite(v) || v <= 0)) {
      throw new InvalidOptionError(`cacheMiddleware: option \`${n}\` must be a number of seconds > 0`)
    }
  }
  checkFn('key', o.key)
  checkFn('tags', o.tags)
  const scope = o.scope

  const mw = async (opts: Opts): Promise<Result> => {
    if (opts.type !== 'query') return opts.next()
    let scopePart = 'public'
    if (typeof scope === 'function') {
      const s = scope(opts.ctx as ContextOf<TCtx, TCtxIn>)
      if (s === undefined || s === null || s === '') return opts.next()
      if (typeof s !== 'string' && typeof s !== 'number') {
        throw new InvalidOptionError('cacheMiddleware: `scope` must return a string (or undefined to bypass)')
      }
      scopePart = 'u.' + encodeURIComponent(String(s))
    }
    const raw = await opts.getRawInput()
    const p: ProcedureInfo<ContextOf<TCtx, TCtxIn>, TInput> = {
      input: (opts.input === undefined ? raw : opts.input) as TInput,
      ctx: opts.ctx as ContextOf<TCtx, TCtxIn>,
      path: opts.path,
    }
    let base: string
    if (o.key) {
      base = o.key(p)
      if (typeof base !== 'string' || base === '') {
        throw new InvalidOptionError('cacheMiddleware: `key` must return a non-empty string')
      }
    } else {
      const h = hashInput(raw)
      if (h === undefined) return opts.next() // functions, symbols, cycles: not cacheable
      base = `${opts.path}:${h}`
    }
    const tags = o.tags ? o.tags(p) : undefined
    let mine: Result | undefined
    const stats = cache._procedure(opts.path)
    const trace = { coalesced: false, stale: false }
    let loaded = false
    try {
      const data = await cache._getOrSet(
        `trpc:${scopePart}:${base}`,
        async () => {
          loaded = true
          stats.loads++
          const t0 = performance.now()
          let r: Result
          try {
            r = await opts.next()
          } finally {
            stats.loadSeconds += (performance.now() - t0) / 1000
          }
          if (!r.ok) throw r.error // reaches every waiter; never cached
          mine = r
          if (r.data === undefined || isStream(r.data)) throw new Uncacheable(r)
          return r.data
        },
        { ttl: o.ttl, grace: o.grace, ...(tags === undefined ? {} : { tags }) },
        trace,
      )
      countCall(stats, trace, loaded)
      return answer(data, opts.ctx)
    } catch (e) {
      countCall(stats, trace, loaded)
      if (e instanceof Uncacheable || (e instanceof CacheError && STORE_ERRORS.has(e.code))) {
        return mine ?? opts.next() // waiters of an uncacheable result run their own resolver
      }
      throw e
    }
  }
  return mw as unknown as TRPCMiddleware<TCtx, TMeta, TCtxIn, TInput>
}

/** Per-procedure outcome: a hit when the value came from the cache (stale included), else a miss. */
function countCall(
  stats: ProcedureStats,
  trace: { coalesced: boolean; stale: boolean },
  loaded: boolean,
): void {
  if (trace.stale) {
    stats.hits++
    stats.staleServed++
  } else if (loaded || trace.coalesced) stats.misses++
  else stats.hits++
}

function isStream(v: unknown): boolean {
  return (
    typeof v === 'object' &&
    v !== null &&
    (Symbol.asyncIterator in v || typeof (v as { pipe?: unknown }).pipe === 'function')
  )
}

/**
 * After a successful mutation, invalidates the tags its `tags` function returns (entries cached by
 * {@link cacheMiddleware} with those tags reload on their next call). Nothing happens when the
 * mutation fails. Other procedure types pass through. Note: an invalidated entry counts as expired,
 * so with `grace` the next call may still get the old value while it reloads in the background —
 * leave `grace` off the queries whose readers must see their own writes.
 *
 * @example
 * ```ts
 * const updatePost = authed
 *   .input(z.object({ id: z.string(), title: z.string() }))
 *   .use(invalidateMiddleware(cache, { tags: ({ input }) => [`post:${input.id}`] }))
 *   .mutation(({ input }) => db.post.update(input))
 * ```
 */
export function invalidateMiddleware<TCtx = any, TMeta = any, TCtxIn = object, TInput = unknown>(
  cache: Cache,
  options: InvalidateMiddlewareOptions<ContextOf<TCtx, TCtxIn>, TInput>,
): TRPCMiddleware<TCtx, TMeta, TCtxIn, TInput> {
  if (!cache || typeof (cache as Partial<Cache>).invalidateTags !== 'function') {
    throw new InvalidOptionError('invalidateMiddleware(cache, options): cache must be a ferrocache Cache')
  }
  if (typeof options?.tags !== 'function') {
    throw new InvalidOptionError(
      'invalidateMiddleware: option `tags` is required: ({ input, ctx, path, data }) => string[]',
    )
  }
  checkFn('onError', options.onError)
  const mw = async (opts: Opts): Promise<Result> => {
    const r = await opts.next()
    if (!r.ok || opts.type !== 'mutation') return r
    const p: ProcedureInfo<ContextOf<TCtx, TCtxIn>, TInput> = {
      input: (opts.input === undefined ? await opts.getRawInput() : opts.input) as TInput,
      ctx: opts.ctx as ContextOf<TCtx, TCtxIn>,
      path: opts.path,
    }
    const tags = await options.tags({ ...p, data: r.data })
    if (tags.length === 0) return r
    // The mutation has happened: its result must reach the client whatever the cache does. A
    // failed invalidation (Valkey down) is retried briefly, then counted and handed to onError —
    // never turned into an error response carrying infrastructure detail.
    for (let attempt = 0; ; attempt++) {
      try {
        await cache.invalidateTags(tags)
        break
      } catch (e) {
        if (attempt < INVALIDATE_RETRY_MS.length) {
          await new Promise((ok) => setTimeout(ok, INVALIDATE_RETRY_MS[attempt]))
          continue
        }
        trpcCounters.invalidationsDropped++
        if (options.onError) options.onError(e, p)
        else if (!warnedDrop) {
          warnedDrop = true
          console.warn(
            `[ferrocache/trpc] invalidateMiddleware: could not invalidate ${JSON.stringify(tags)} after a ` +
              `successful mutation (${(e as Error)?.message}); the mutation's result was returned. Counted in trpcStats().`,
          )
        }
        break
      }
    }
    return r
  }
  return mw as unknown as TRPCMiddleware<TCtx, TMeta, TCtxIn, TInput>
}

/**
 * Counts each call with a {@link RateLimiter}; denied calls throw a `TRPCError` with code
 * `TOO_MANY_REQUESTS` (HTTP 429) whose message carries `limit`, `remaining` and `reset` (epoch ms),
 * and whose `cause` is a `RateLimitedError` with the same numbers as properties (expose them to
 * clients with an `errorFormatter`).
 *
 * @example
 * ```ts
 * const limiter = new RateLimiter(cache, { limit: 20, window: 10 })
 * const limited = t.procedure.use(rateLimitMiddleware(limiter, { id: ({ ctx }) => ctx.ip }))
 * ```
 */
export function rateLimitMiddleware<TCtx = any, TMeta = any, TCtxIn = object, TInput = unknown>(
  limiter: RateLimiter,
  options: RateLimitMiddlewareOptions<ContextOf<TCtx, TCtxIn>>,
): TRPCMiddleware<TCtx, TMeta, TCtxIn, TInput> {
  if (!limiter || typeof (limiter as Partial<RateLimiter>).limit !== 'function') {
    throw new InvalidOptionError('rateLimitMiddleware(limiter, options): limiter must be a RateLimiter')
  }
  if (typeof options?.id !== 'function') {
    throw new InvalidOptionError('rateLimitMiddleware: option `id` is required: ({ ctx, path }) => string')
  }
  const mw = async (opts: Opts): Promise<Result> => {
    const r = await limiter.limit(
      await options.id({ ctx: opts.ctx as ContextOf<TCtx, TCtxIn>, path: opts.path }),
    )
    if (r.success) return opts.next()
    const cause = new RateLimitedError(r)
    const { TRPCError } = require('@trpc/server') as typeof import('@trpc/server')
    throw new TRPCError({ code: 'TOO_MANY_REQUESTS', message: `Too many requests: ${cause.message}`, cause })
  }
  return mw as unknown as TRPCMiddleware<TCtx, TMeta, TCtxIn, TInput>
}

/**
 * A stable SHA-256 (base64url) of a value: object key order does not matter, Dates, Maps, Sets,
 * BigInts, typed arrays are hashed by value, `undefined` object properties are ignored. Returns
 * `undefined` for values that cannot be hashed (functions, symbols, cycles).
 *
 * @example
 * ```ts
 * hashInput({ a: 1, b: 2 }) === hashInput({ b: 2, a: 1 }) // true
 * ```
 */
export function hashInput(value: unknown): string | undefined {
  const out: string[] = []
  if (!canon(value, out, new Set())) return undefined
  return createHash('sha256').update(out.join('')).digest('base64url')
}

/** Appends the canonical text of `v` (type-tagged, length-prefixed); false when not hashable. */
function canon(v: unknown, out: string[], seen: Set<object>): boolean {
  switch (typeof v) {
    case 'undefined':
      out.push('u')
      return true
    case 'boolean':
      out.push(v ? 't' : 'f')
      return true
    case 'number':
      out.push(Object.is(v, -0) ? 'n-0;' : `n${v};`)
      return true
    case 'bigint':
      out.push(`i${v};`)
      return true
    case 'string':
      out.push(`s${v.length}:`, v)
      return true
    case 'object':
      break
    default:
      return false // function, symbol
  }
  if (v === null) {
    out.push('z')
    return true
  }
  if (seen.has(v)) return false
  seen.add(v)
  const ok = canonObject(v, out, seen)
  seen.delete(v)
  return ok
}

function canonObject(v: object, out: string[], seen: Set<object>): boolean {
  const sorted = (items: Iterable<unknown>, tag: string): boolean => {
    const parts: string[] = []
    for (const item of items) {
      const sub: string[] = []
      if (!canon(item, sub, seen)) return false
      parts.push(sub.join(''))
    }
    parts.sort()
    out.push(`${tag}${parts.length}[`, ...parts.map((p) => `${p.length}:${p}`), ']')
    return true
  }
  if (v instanceof Date) out.push(`d${v.getTime()};`)
  else if (v instanceof RegExp) out.push(`r${v.source.length}:${v.source}/${v.flags};`)
  else if (v instanceof URL) out.push(`l${v.href.length}:${v.href}`)
  else if (ArrayBuffer.isView(v))
    out.push(`b${v.constructor.name}:${Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('hex')};`)
  else if (v instanceof Map)
    return sorted(
      Array.from(v, (e) => e),
      'm',
    )
  else if (v instanceof Set) return sorted(v, 'e')
  else if (Array.isArray(v)) {
    out.push(`a${v.length}[`)
    for (let i = 0; i < v.length; i++) if (!canon(v[i], out, seen)) return false
    out.push(']')
  } else {
    const proto = Object.getPrototypeOf(v)
    if (proto !== Object.prototype && proto !== null) {
      // Class instances: their own serialization when they have one (toJSON / toString), else fields.
      const name = (v.constructor as { name?: string } | undefined)?.name ?? ''
      out.push(`c${name.length}:${name}`)
      const own = (v as { toJSON?: () => unknown }).toJSON
      if (typeof own === 'function') return canon(own.call(v), out, seen)
      const text = String(v)
      if (text !== '[object Object]') return canon(text, out, seen)
    }
    const keys = Object.keys(v)
      .filter((k) => (v as Record<string, unknown>)[k] !== undefined)
      .sort()
    out.push(`o${keys.length}{`)
    for (const k of keys) {
      out.push(`${k.length}:`, k)
      if (!canon((v as Record<string, unknown>)[k], out, seen)) return false
    }
    out.push('}')
  }
  return true
}
