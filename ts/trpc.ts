import { CacheError } from './errors'

function notImplemented(name: string): never {
  throw new CacheError('E_NOT_IMPLEMENTED', `ferrocache/trpc ${name} is not available in this version yet`)
}

/** tRPC query caching middleware. Not available yet: throws `E_NOT_IMPLEMENTED`. */
export function cacheMiddleware(..._args: unknown[]): never {
  return notImplemented('cacheMiddleware')
}
/** tRPC mutation invalidation middleware. Not available yet: throws `E_NOT_IMPLEMENTED`. */
export function invalidateMiddleware(..._args: unknown[]): never {
  return notImplemented('invalidateMiddleware')
}
/** tRPC rate-limit middleware. Not available yet: throws `E_NOT_IMPLEMENTED`. */
export function rateLimitMiddleware(..._args: unknown[]): never {
  return notImplemented('rateLimitMiddleware')
}
