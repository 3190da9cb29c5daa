/** `hashInput`: the stable, key-order independent hash of a procedure input (cache keys). */
import * as crypto from 'node:crypto'

/** One-shot `crypto.hash` (Node ≥ 20.12) costs half of `createHash().update().digest()`. */
const oneShot = (crypto as { hash?: (alg: string, data: string, enc: 'base64url') => string }).hash
const sha256 = (text: string): string =>
  oneShot !== undefined
    ? oneShot('sha256', text, 'base64url')
    : crypto.createHash('sha256').update(text).digest('base64url')

/**
 * Hashes of recent short canonical texts: a procedure sees the same few inputs again and again
 * (ids, pages), and the digest is most of what hashing a small input costs. Bounded: cleared when full.
 */
const recent = new Map<string, string>()
const RECENT_MAX = 512
const RECENT_TEXT_MAX = 256

/**
 * A stable SHA-256 (base64url) of a value: object key order does not matter, Dates, Maps, Sets,
 * BigInts, typed arrays are hashed by value, `undefined` object properties are ignored. Returns
 * `undefined` for values that cannot be hashed (functions, symbols, cycles).
 *
 * @example
 * ```ts
 * hashInput({ a: 1, b: 2 }) === hashInput({ b: 2, a: 1 }) // true
 * ```
 */
export function hashInput(value: unknown): string | undefined {
  const out: string[] = []
  if (!canon(value, out, new Set())) return undefined
  const text = out.join('')
  if (text.length > RECENT_TEXT_MAX) return sha256(text)
  let h = recent.get(text)
  if (h === undefined) {
    if (recent.size >= RECENT_MAX) recent.clear()
    h = sha256(text)
    recent.set(text, h)
  }
  return h
}

/** Appends the canonical text of `v` (type-tagged, length-prefixed); false when not hashable. */
function canon(v: unknown, out: string[], seen: Set<object>): boolean {
  switch (typeof v) {
    case 'undefined':
      out.push('u')
      return true
    case 'boolean':
      out.push(v ? 't' : 'f')
      return true
    case 'number':
      out.push(Object.is(v, -0) ? 'n-0;' : `n${v};`)
      return true
    case 'bigint':
      out.push(`i${v};`)
      return true
    case 'string':
      out.push(`s${v.length}:`, v)
      return true
    case 'object':
      break
    default:
      return false // function, symbol
  }
  if (v === null) {
    out.push('z')
    return true
  }
  if (seen.has(v)) return false
  seen.add(v)
  const ok = canonObject(v, out, seen)
  seen.delete(v)
  return ok
}

function canonObject(v: object, out: string[], seen: Set<object>): boolean {
  const sorted = (items: Iterable<unknown>, tag: string): boolean => {
    const parts: string[] = []
    for (const item of items) {
      const sub: string[] = []
      if (!canon(item, sub, seen)) return false
      parts.push(sub.join(''))
    }
    parts.sort()
    out.push(`${tag}${parts.length}[`, ...parts.map((p) => `${p.length}:${p}`), ']')
    return true
  }
  if (v instanceof Date) out.push(`d${v.getTime()};`)
  else if (v instanceof RegExp) out.push(`r${v.source.length}:${v.source}/${v.flags};`)
  else if (v instanceof URL) out.push(`l${v.href.length}:${v.href}`)
  else if (ArrayBuffer.isView(v))
    out.push(`b${v.constructor.name}:${Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('hex')};`)
  else if (v instanceof Map)
    return sorted(
      Array.from(v, (e) => e),
      'm',
    )
  else if (v instanceof Set) return sorted(v, 'e')
  else if (Array.isArray(v)) {
    out.push(`a${v.length}[`)
    for (let i = 0; i < v.length; i++) if (!canon(v[i], out, seen)) return false
    out.push(']')
  } else {
    const proto = Object.getPrototypeOf(v)
    if (proto !== Object.prototype && proto !== null) {
      // Class instances: their own serialization when they have one (toJSON / toString), else fields.
      const name = (v.constructor as { name?: string } | undefined)?.name ?? ''
      out.push(`c${name.length}:${name}`)
      const own = (v as { toJSON?: () => unknown }).toJSON
      if (typeof own === 'function') return canon(own.call(v), out, seen)
      const text = String(v)
      if (text !== '[object Object]') return canon(text, out, seen)
    }
    const keys = Object.keys(v)
      .filter((k) => (v as Record<string, unknown>)[k] !== undefined)
      .sort()
    out.push(`o${keys.length}{`)
    for (const k of keys) {
      out.push(`${k.length}:`, k)
      if (!canon((v as Record<string, unknown>)[k], out, seen)) return false
    }
    out.push('}')
  }
  return true
}
