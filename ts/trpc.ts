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
export type { TRPCMiddleware, ContextOf, ProcedureInfo } from './features/trpc-shared'
export { cacheMiddleware, type CacheMiddlewareOptions } from './features/trpc-cache'
export {
  invalidateMiddleware,
  trpcStats,
  type InvalidateMiddlewareOptions,
  type TrpcStats,
} from './features/trpc-invalidate'
export { rateLimitMiddleware, type RateLimitMiddlewareOptions } from './features/trpc-rate-limit'
export { hashInput } from './features/trpc-input-hash'
