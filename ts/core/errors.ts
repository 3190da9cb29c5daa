/**
 * Every error ferrocache throws is a `CacheError` with a stable `code`. Match on `err.code`
 * (or `instanceof` one of the subclasses); messages may improve between versions, codes do not.
 */
import { CodecError } from './codec'

export type CacheErrorCode =
  | 'E_INVALID_OPTION'
  | 'E_INVALID_KEY'
  | 'E_INVALID_VALUE'
  | 'E_SERIALIZE'
  | 'E_VALUE_TOO_LARGE'
  | 'E_CONNECTION'
  | 'E_TIMEOUT'
  | 'E_AUTH'
  | 'E_NO_PERMISSION'
  | 'E_NO_SCRIPT'
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
/** Valkey's ACL refused a key or channel (the credentials themselves are fine). */
export class NoPermissionError extends CacheError {
  constructor(message: string) {
    super('E_NO_PERMISSION', message)
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
  E_NO_PERMISSION: NoPermissionError,
  E_CLOSED: ClosedError,
}

/** Builds the right subclass for a code. */
export function cacheError(code: CacheErrorCode, message: string): CacheError {
  const Cls = classes[code]
  return Cls ? new Cls(message) : new CacheError(code, message)
}

const KNOWN: Record<CacheErrorCode, true> = {
  E_INVALID_OPTION: true,
  E_INVALID_KEY: true,
  E_INVALID_VALUE: true,
  E_SERIALIZE: true,
  E_VALUE_TOO_LARGE: true,
  E_CONNECTION: true,
  E_TIMEOUT: true,
  E_AUTH: true,
  E_NO_PERMISSION: true,
  E_NO_SCRIPT: true,
  E_CLOSED: true,
  E_LOCK_TIMEOUT: true,
  E_RATE_LIMITED: true,
  E_SERVER: true,
  E_INTERNAL: true,
  E_NOT_IMPLEMENTED: true,
  E_UNSUPPORTED_RUNTIME: true,
}

/** Whether a string is one of the codes above (the native engine's codes must all be). */
export function isCacheErrorCode(code: unknown): code is CacheErrorCode {
  return typeof code === 'string' && Object.prototype.hasOwnProperty.call(KNOWN, code)
}

/**
 * Converts an error thrown by the native binding into a `CacheError`. Native calls, synchronous
 * or `async`, throw (reject) with `code` already set to one of the codes above; anything else is
 * an internal error.
 */
export function fromNative(err: unknown): CacheError {
  if (err instanceof CacheError) return err
  const message = err instanceof Error ? err.message : String(err)
  const code = (err as { code?: unknown } | null | undefined)?.code
  return isCacheErrorCode(code) ? cacheError(code, message) : new CacheError('E_INTERNAL', message)
}

/** A codec failure (or anything thrown while serializing) as the `CacheError` `set` rejects with. */
export function codecToCacheError(e: unknown): CacheError {
  if (e instanceof CacheError) return e
  if (e instanceof CodecError) {
    if (e.reason === 'invalid-value') return new InvalidValueError(e.message)
    if (e.reason === 'option') return new InvalidOptionError(e.message)
    if (e.reason === 'too-large') return new ValueTooLargeError(e.message)
    return new SerializeError(e.message, { cause: e })
  }
  return new SerializeError(`cannot serialize the value: ${(e as Error)?.message ?? String(e)}`, { cause: e })
}
