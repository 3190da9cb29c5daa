/** Checks of user-given strings that become keys (keys, prefixes, namespaces, tags, globs). */
import { InvalidKeyError, InvalidOptionError } from './errors'

/** `String.prototype.isWellFormed` (ES2024, in every Node this package supports; lib is ES2022). */
type WellFormedCheck = { isWellFormed(): boolean }

/**
 * False when `s` holds a lone UTF-16 surrogate. Such strings cannot be encoded to UTF-8: every
 * lone surrogate becomes U+FFFD, so `'x\uD800'` and `'x\uDBFF'` would name the same stored key.
 * They are rejected, never merged. The built-in check, not a regular expression: it runs for every
 * key of every call, and answers a one-byte string (any ASCII key) without scanning it.
 */
export function wellFormed(s: string): boolean {
  return (s as unknown as WellFormedCheck).isWellFormed()
}

/** The reason a key is unusable, or undefined when it is fine. */
function keyProblem(key: unknown): string | undefined {
  if (typeof key !== 'string') return `keys must be non-empty strings, got ${typeof key}`
  if (key === '') return 'keys must be non-empty strings, got an empty string'
  if (!wellFormed(key)) {
    return 'keys must be well-formed Unicode: this one holds a lone UTF-16 surrogate (half of a pair), which has no UTF-8 form'
  }
  return undefined
}

export function keyError(key: unknown): InvalidKeyError | undefined {
  const p = keyProblem(key)
  return p === undefined ? undefined : new InvalidKeyError(p)
}

/** For option-like strings (prefix, namespace, tags): E_INVALID_OPTION naming `what`. */
export function checkWellFormed(what: string, s: string): void {
  if (!wellFormed(s)) {
    throw new InvalidOptionError(
      `\`${what}\` must be well-formed Unicode: it holds a lone UTF-16 surrogate (half of a pair), which has no UTF-8 form`,
    )
  }
}
