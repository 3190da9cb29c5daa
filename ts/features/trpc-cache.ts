/** `cacheMiddleware`: caches tRPC query results through `getOrSet` (entry point: ferrocache/trpc). */
import { performance } from 'node:perf_hooks'
import type { Cache } from '../cache/cache'
import { CacheError, InvalidOptionError } from '../core/errors'
import type { ProcedureStats } from './telemetry'
import { hashInput } from './trpc-input-hash'
import {
  checkFn,
  type ContextOf,
  type Opts,
  type ProcedureInfo,
  type Result,
  type TRPCMiddleware,
} from './trpc-shared'

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
