export { Cache } from './cache/cache'
export type { CacheStats, GetOrSetOptions, HealthReport, SetOptions, SetManyEntry } from './cache/cache'
export type {
  CacheEvent,
  CacheEventType,
  CacheEventListener,
  InspectOptions,
  InspectReport,
} from './cache/cache'
export type { ServerReport, SlowlogEntry } from './features/inspect'
export { METRIC_NAMES } from './features/metrics'
export { renderMetrics } from './features/render-metrics'
export { promCollector } from './features/prom-client'
export type { LoaderContext } from './features/loader'
export type { CacheOptions } from './core/options'
export type { Serializer } from './core/codec'
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
} from './core/errors'
export type { CacheErrorCode } from './core/errors'
export { RateLimiter, RateLimitedError } from './features/rate-limit'
export type {
  RateLimitAlgorithm,
  RateLimiterOptions,
  RateLimitResult,
  RateLimiterStats,
} from './features/rate-limit'
export type { WarmEntry, WarmOptions, WarmProgress, WarmReport } from './features/warm'
export type {
  DeadLetter,
  WriteBehind,
  WriteBehindEntry,
  WriteBehindOptions,
  WriteBehindStats,
} from './features/write-behind'
export { SessionStore } from './features/session'
export type { SessionStoreOptions } from './features/session'
