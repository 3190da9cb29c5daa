/**
 * Copies of L1 values that are not plain JSON (Dates, Maps, Sets, BigInts, undefined, NaN…): every
 * hit must get its own copy, as a decode of the stored bytes would give. Decoding those bytes with
 * V8's deserializer on each hit cost ~18 µs for a small object with a Map and a few Dates (most of
 * what an L1 hit cost behind tRPC); copying an already decoded template costs a few µs.
 *
 * Only shapes whose copy is exactly what the decoder would return are copied: plain objects and
 * dense arrays without extra properties, Date, Map, Set and primitives, each object reachable once
 * (a shared or cyclic reference must stay shared, which a tree copy would not). Anything else
 * (typed arrays, RegExp, boxed primitives, shared references…) keeps being decoded on every hit.
 */

/** Deeper than this, a value is decoded on every hit instead (the copy recurses). */
const MAX_DEPTH = 64
const OBJECT_PROTO = Object.prototype
const ARRAY_PROTO = Array.prototype

/** True when {@link copyTemplate} reproduces `v` exactly (see the module note). */
export function copyable(v: unknown): boolean {
  return walk(v, new Set(), 0)
}

function walk(v: unknown, seen: Set<object>, depth: number): boolean {
  if (typeof v !== 'object' || v === null) return typeof v !== 'function' && typeof v !== 'symbol'
  if (depth > MAX_DEPTH || seen.has(v)) return false
  seen.add(v)
  const proto = Object.getPrototypeOf(v)
  if (proto === ARRAY_PROTO) {
    const a = v as unknown[]
    if (!Array.isArray(a) || Object.keys(a).length !== a.length) return false // holes or extra keys
    for (let i = 0; i < a.length; i++) if (!walk(a[i], seen, depth + 1)) return false
    return true
  }
  if (proto === OBJECT_PROTO) {
    if (Object.getOwnPropertySymbols(v).length > 0) return false
    const names = Object.getOwnPropertyNames(v)
    const keys = Object.keys(v)
    // Non-enumerable properties or an own `__proto__` (assignment would set the prototype).
    if (names.length !== keys.length || Object.prototype.hasOwnProperty.call(v, '__proto__')) return false
    for (const k of keys) if (!walk((v as Record<string, unknown>)[k], seen, depth + 1)) return false
    return true
  }
  if (v instanceof Date) return proto === Date.prototype && Object.keys(v).length === 0
  if (v instanceof Map) {
    if (proto !== Map.prototype || Object.keys(v).length > 0) return false
    for (const [k, x] of v) if (!walk(k, seen, depth + 1) || !walk(x, seen, depth + 1)) return false
    return true
  }
  if (v instanceof Set) {
    if (proto !== Set.prototype || Object.keys(v).length > 0) return false
    for (const x of v) if (!walk(x, seen, depth + 1)) return false
    return true
  }
  return false
}

/** A fresh deep copy of a value {@link copyable} accepted. Primitives are copied in the loops, without a call. */
export function copyTemplate(v: unknown): unknown {
  if (typeof v !== 'object' || v === null) return v
  if (Array.isArray(v)) {
    const n = v.length
    const out = new Array(n)
    for (let i = 0; i < n; i++) {
      const x: unknown = v[i]
      out[i] = typeof x === 'object' && x !== null ? copyTemplate(x) : x
    }
    return out
  }
  const proto = Object.getPrototypeOf(v)
  if (proto === OBJECT_PROTO) {
    const out: Record<string, unknown> = {}
    const keys = Object.keys(v)
    for (let i = 0; i < keys.length; i++) {
      const k = keys[i]
      const x = (v as Record<string, unknown>)[k]
      out[k] = typeof x === 'object' && x !== null ? copyTemplate(x) : x
    }
    return out
  }
  if (proto === Date.prototype) return new Date((v as Date).getTime())
  if (proto === Map.prototype) {
    const out = new Map()
    ;(v as Map<unknown, unknown>).forEach((x, k) => out.set(copyTemplate(k), copyTemplate(x)))
    return out
  }
  const out = new Set()
  ;(v as Set<unknown>).forEach((x) => out.add(copyTemplate(x)))
  return out
}
