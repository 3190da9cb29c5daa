/** `rateLimitMiddleware`: a RateLimiter in front of tRPC procedures (`TRPCError` loaded lazily). */
import { InvalidOptionError } from '../core/errors'
import { RateLimitedError, type RateLimiter } from './rate-limit'
import type { ContextOf, Opts, Result, TRPCMiddleware } from './trpc-shared'

/** Options of {@link rateLimitMiddleware}. */
export interface RateLimitMiddlewareOptions<TCtx = any> {
  /** The identifier to count calls of (user id, IP, API key). */
  id: (p: { ctx: TCtx; path: string }) => string | Promise<string>
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
