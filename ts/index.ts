export { Cache } from './cache'
export type { CacheStats, GetOrSetOptions, HealthReport, SetOptions, SetManyEntry } from './cache'
export type { LoaderContext } from './loader'
export type { CacheOptions } from './options'
export type { Serializer } from './codec'
export {
  CacheError,
  InvalidOptionError,
  InvalidKeyError,
  InvalidValueError,
  SerializeError,
  ValueTooLargeError,
  ConnectionError,
  TimeoutError,
  AuthError,
  NoPermissionError,
  ClosedError,
} from './errors'
export type { CacheErrorCode } from './errors'
export { RateLimiter, RateLimitedError } from './rate-limit'
export type { RateLimitAlgorithm, RateLimiterOptions, RateLimitResult, RateLimiterStats } from './rate-limit'
export { SessionStore } from './session'
export type { SessionStoreOptions } from './session'
