/** `invalidateMiddleware` and `trpcStats`: tag invalidation after tRPC mutations. */
import type { Cache } from '../cache/cache'
import { InvalidOptionError } from '../core/errors'
import {
  checkFn,
  type ContextOf,
  type Opts,
  type ProcedureInfo,
  type Result,
  type TRPCMiddleware,
} from './trpc-shared'

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
