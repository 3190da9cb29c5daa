/**
 * Every error ferrocache throws is a `CacheError` with a stable `code`. Match on `err.code`
 * (or `instanceof` one of the subclasses); messages may improve between versions, codes do not.
 */
export type CacheErrorCode =
  | 'E_INVALID_OPTION'
  | 'E_INVALID_KEY'
  | 'E_INVALID_VALUE'
  | 'E_SERIALIZE'
  | 'E_VALUE_TOO_LARGE'
  | 'E_CONNECTION'
  | 'E_TIMEOUT'
  | 'E_AUTH'
  | 'E_CLOSED'
  | 'E_LOCK_TIMEOUT'
  | 'E_RATE_LIMITED'
  | 'E_SERVER'
  | 'E_INTERNAL'
  | 'E_NOT_IMPLEMENTED'
  | 'E_UNSUPPORTED_RUNTIME'

/** Base class of every ferrocache error. */
export class CacheError extends Error {
  /** Stable machine-readable code, e.g. `'E_CONNECTION'`. */
  readonly code: CacheErrorCode
  constructor(code: CacheErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.code = code
    this.name = new.target.name
  }
}

/** An option passed to `new Cache()` (or another constructor) is invalid. */
export class InvalidOptionError extends CacheError {
  constructor(message: string) {
    super('E_INVALID_OPTION', message)
  }
}
/** A key is not a non-empty string, or is too long. */
export class InvalidKeyError extends CacheError {
  constructor(message: string) {
    super('E_INVALID_KEY', message)
  }
}
/** The value cannot be stored (`undefined`). */
export class InvalidValueError extends CacheError {
  constructor(message: string) {
    super('E_INVALID_VALUE', message)
  }
}
/** The value cannot be serialized (cycle, function, symbol, serializer failure). */
export class SerializeError extends CacheError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('E_SERIALIZE', message, options)
  }
}
/** The serialized value is larger than `maxValueBytes`. */
export class ValueTooLargeError extends CacheError {
  constructor(message: string) {
    super('E_VALUE_TOO_LARGE', message)
  }
}
/** Valkey cannot be reached (refused, reset, DNS, TLS). */
export class ConnectionError extends CacheError {
  constructor(message: string) {
    super('E_CONNECTION', message)
  }
}
/** Valkey did not answer within `commandTimeoutMs`. */
export class TimeoutError extends CacheError {
  constructor(message: string) {
    super('E_TIMEOUT', message)
  }
}
/** Valkey refused the credentials in the URL. */
export class AuthError extends CacheError {
  constructor(message: string) {
    super('E_AUTH', message)
  }
}
/** The cache was used after `close()`. */
export class ClosedError extends CacheError {
  constructor(message = 'the cache was closed; create a new Cache to keep using it') {
    super('E_CLOSED', message)
  }
}

const classes: Partial<Record<CacheErrorCode, new (message: string) => CacheError>> = {
  E_INVALID_OPTION: InvalidOptionError,
  E_INVALID_KEY: InvalidKeyError,
  E_INVALID_VALUE: InvalidValueError,
  E_SERIALIZE: SerializeError,
  E_VALUE_TOO_LARGE: ValueTooLargeError,
  E_CONNECTION: ConnectionError,
  E_TIMEOUT: TimeoutError,
  E_AUTH: AuthError,
  E_CLOSED: ClosedError,
}

/** Builds the right subclass for a code. */
export function cacheError(code: CacheErrorCode, message: string): CacheError {
  const Cls = classes[code]
  return Cls ? new Cls(message) : new CacheError(code, message)
}

/** Codes in the order of the native engine's error kinds (frame `tag` byte − 1). */
export const NATIVE_KINDS: readonly CacheErrorCode[] = [
  'E_INVALID_OPTION',
  'E_INVALID_KEY',
  'E_INVALID_VALUE',
  'E_SERIALIZE',
  'E_VALUE_TOO_LARGE',
  'E_CONNECTION',
  'E_TIMEOUT',
  'E_AUTH',
  'E_CLOSED',
  'E_LOCK_TIMEOUT',
  'E_RATE_LIMITED',
  'E_SERVER',
  'E_INTERNAL',
]

/** Converts an error thrown by the native binding (`"E_CODE: message"`) into a `CacheError`. */
export function fromNative(err: unknown): CacheError {
  if (err instanceof CacheError) return err
  const message = err instanceof Error ? err.message : String(err)
  const m = /^(E_[A-Z_]+): ([\s\S]*)$/.exec(message)
  if (m && (NATIVE_KINDS as readonly string[]).includes(m[1])) return cacheError(m[1] as CacheErrorCode, m[2])
  return new CacheError('E_INTERNAL', message)
}
