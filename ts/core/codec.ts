/**
 * Value codecs: turn a JS value into bytes (or JSON text) before the native engine wraps it in
 * its envelope, and turn a payload back into a value on the read path.
 *
 * - `structured` (default): JSON when the value is JSON-safe (the common case, and the fastest to
 *   decode), otherwise `v8.serialize` — so Date, Map, Set, BigInt, typed arrays, Buffer, `undefined`
 *   in objects/arrays, NaN, ±Infinity and -0 come back exactly. Cycles, functions, symbols,
 *   WeakMap/WeakSet/WeakRef/Promise are rejected with the path of the offending value. Class
 *   instances (and objects whose prototype has a `toJSON`) go through V8 and come back as plain
 *   objects of their own enumerable properties, like `structuredClone`; `toJSON` is not called.
 * - `json`: exactly `JSON.stringify` / `JSON.parse` (Dates become strings, Maps become `{}`).
 * - custom: the user's `{ serialize, deserialize }`.
 */
import * as v8 from 'node:v8'

/** Codec ids, stored in the envelope header. */
export const CodecId = { JSON: 1, V8: 2, CUSTOM: 3 } as const
export type CodecId = (typeof CodecId)[keyof typeof CodecId]

/** `data` is JSON text (to be utf8-encoded by the caller) or bytes. */
export type Encoded = { codec: number; data: string | Uint8Array }

export type Serializer = {
  serialize(v: unknown): Uint8Array | string
  /** Receives a fresh copy of the stored bytes: it may keep or mutate it. */
  deserialize(b: Uint8Array): unknown
}

export type Payload = Buffer | Uint8Array | string

export interface Codec {
  encode(value: unknown): Encoded
  /**
   * Decodes `payload[start, end)` (the whole payload when omitted). A string payload is JSON text
   * for the JSON codec and latin1 (one char per byte) for binary codecs.
   */
  decode(codec: number, payload: Payload, start?: number, end?: number): unknown
  /**
   * Only when a JSON payload decodes as exactly `JSON.parse` of its UTF-8 text (built-in codecs):
   * `getMany` then parses all its JSON values in one call (`boundary/many.ts`), else one by one.
   */
  parseJson?(payload: Buffer, start: number, end: number): unknown
}

export type CodecErrorReason = 'serialize' | 'invalid-value' | 'decode' | 'option' | 'too-large'

export class CodecError extends Error {
  readonly reason: CodecErrorReason
  /** Where in the value the problem is, e.g. `value.items[2].tags` (serialize errors only). */
  readonly path?: string
  constructor(reason: CodecErrorReason, message: string, options?: { cause?: unknown; path?: string }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause })
    this.name = 'CodecError'
    this.reason = reason
    if (options?.path !== undefined) this.path = options.path
  }
}

const UNDEFINED_MSG = 'undefined is not a storable value; store null instead'

/**
 * The value cannot fit `maxBytes` serialized: `floor` is a lower bound of its serialized size
 * (each UTF-16 unit of a string, each byte of a typed array and each element or property is at
 * least one byte in JSON and in V8's format). Raised before the expensive work where possible.
 */
function tooLarge(floor: number, maxBytes: number): CodecError {
  return new CodecError(
    'too-large',
    `value is at least ${floor} bytes serialized, over maxValueBytes (${maxBytes}); store less or raise maxValueBytes`,
  )
}

/** A lower bound of the serialized size of a top-level string or byte array (0 for others). */
function flatFloor(value: unknown): number {
  if (typeof value === 'string') return value.length
  return ArrayBuffer.isView(value) || value instanceof ArrayBuffer ? value.byteLength : 0
}

const msgOf = (e: unknown): string => (e instanceof Error ? e.message : String(e))

function serializeError(e: unknown, how = ''): CodecError {
  if (e instanceof CodecError) return e
  const msg = `cannot serialize the value${how && ' ' + how}: ${msgOf(e)}`
  return new CodecError('serialize', msg, { cause: e })
}

// ---- read path ---------------------------------------------------------------------------------

type Slicer = Buffer & { utf8Slice?(start: number, end: number): string }
const HAS_UTF8_SLICE = typeof (Buffer.prototype as Slicer).utf8Slice === 'function'

function asBuffer(p: Uint8Array): Buffer {
  return p instanceof Buffer ? p : Buffer.from(p.buffer, p.byteOffset, p.byteLength)
}

/** The payload as text. `utf8Slice` measured ~7% faster than `toString('utf8', a, b)` for 1 KB. */
function text(p: Payload, start = 0, end?: number): string {
  if (typeof p === 'string') return start === 0 && end === undefined ? p : p.slice(start, end)
  const b = asBuffer(p) as Slicer
  return HAS_UTF8_SLICE ? b.utf8Slice!(start, end ?? b.length) : b.toString('utf8', start, end)
}

function bytes(p: Payload, start = 0, end?: number): Buffer {
  if (typeof p === 'string') return Buffer.from(p.slice(start, end), 'latin1')
  return asBuffer(p).subarray(start, end)
}

function decodeError(codec: number, e: unknown): CodecError {
  return new CodecError('decode', `cannot decode a stored value (codec ${codec}): ${msgOf(e)}`, { cause: e })
}

const baseReadHostObject = (v8.DefaultDeserializer.prototype as unknown as { _readHostObject(): unknown })
  ._readHostObject

/**
 * Node's deserializer returns typed arrays and Buffers as *views into the payload* (the engine's
 * result chunk). Give each one its own memory so a decoded value never aliases or retains it.
 */
class OwningDeserializer extends v8.DefaultDeserializer {
  _readHostObject(): unknown {
    const v = baseReadHostObject.call(this) as NodeJS.ArrayBufferView
    if (Buffer.isBuffer(v)) return Buffer.copyBytesFrom(v)
    if (v instanceof DataView) return new DataView(v.buffer.slice(v.byteOffset, v.byteOffset + v.byteLength))
    return (v as Uint8Array).slice()
  }
}

function v8Decode(b: Buffer): unknown {
  const d = new OwningDeserializer(b)
  d.readHeader()
  return d.readValue()
}

// ---- write path: the JSON-safety walks ----------------------------------------------------------

/** Deeper than this, the fast walk gives up (this is also what catches cycles) and the careful walk decides. */
const FAST_DEPTH = 64
const OBJECT_PROTO = Object.prototype
/** Arrays longer than this are walked by their present elements (a sparse array is cheap to make). */
const SPARSE_SCAN = 4096
/**
 * Bytes left before `fastSafe` gives up (strings and array elements count), so a value far over
 * maxValueBytes never reaches JSON.stringify; set by the caller before each walk.
 */
let fastBudget = Infinity

/** Finite and not -0 (JSON writes -0 as 0). */
function jsonNumber(n: number): boolean {
  return n - n === 0 && (n !== 0 || 1 / n > 0)
}

/** A JSON-safe primitive. */
function isLeaf(v: unknown): boolean {
  const t = typeof v
  return t === 'string' || t === 'boolean' || v === null || (t === 'number' && jsonNumber(v as number))
}

/**
 * Hot path: true when `JSON.parse(JSON.stringify(v))` gives the container `v` back exactly. No
 * bookkeeping: any doubt (special type, class instance, depth — including a cycle) returns false.
 * Primitives are checked in the loops, `constructor === Object` before `Object.getPrototypeOf`
 * (each ~2x faster), each test its own `typeof x === '…'` (a type check; `const t = typeof x`
 * tested several times was a builtin call per value). An inherited `constructor` Object = plain.
 */
function fastSafe(v: object, depth: number): boolean {
  if (depth > FAST_DEPTH) return false
  if (Array.isArray(v)) {
    if ((fastBudget -= v.length) < 0 || v.length > SPARSE_SCAN * 256) return false
    for (let i = 0; i < v.length; i++) {
      const x: unknown = v[i] // a hole reads as undefined: not JSON-safe
      if (typeof x === 'string') {
        if ((fastBudget -= x.length) < 0) return false
        continue
      }
      if (typeof x === 'number' && jsonNumber(x)) continue
      if (typeof x === 'boolean') continue
      if (typeof x !== 'object' || (x !== null && !fastSafe(x, depth + 1))) return false
    }
    return true
  }
  if (v.constructor !== Object) {
    const proto = Object.getPrototypeOf(v)
    if (proto !== OBJECT_PROTO && proto !== null) return false
  }
  const o = v as Record<string, unknown>
  for (const k in o) {
    const x = o[k]
    if (typeof x === 'string') {
      if ((fastBudget -= x.length + 1) < 0) return false
      continue
    }
    if (typeof x === 'number' && jsonNumber(x)) continue
    if (typeof x === 'boolean') continue
    if (typeof x !== 'object' || (x !== null && !fastSafe(x, depth + 1))) return false
  }
  return true
}

/** A path segment inside a Map or Set; property names and array indexes are plain strings/numbers. */
type Entry = { at: 'keys' | 'get' | 'values'; key: unknown; i: number }
const IDENT = /^[A-Za-z_$][\w$]*$/

function formatPath(segs: unknown[], n: number): string {
  let s = 'value'
  for (let i = 0; i < n; i++) {
    const k = segs[i]
    if (typeof k === 'number') s += `[${k}]`
    else if (typeof k === 'string') s += IDENT.test(k) ? `.${k}` : `[${JSON.stringify(k)}]`
    else {
      const { at, key, i: idx } = k as Entry
      const shown =
        typeof key === 'string' ? JSON.stringify(key) : typeof key === 'bigint' ? `${key}n` : String(key)
      s += at === 'get' ? `.get(${shown})` : `.${at}()[${idx}]`
    }
  }
  return s
}

const LEAVES = [RegExp, Error, ArrayBuffer]
const REJECTED = [WeakMap, WeakSet, WeakRef, Promise]

/**
 * Slow path, taken only when the fast walk said no: visits each object once (shared references
 * are fine), rejects what cannot be stored, naming its path, and says whether the value is
 * JSON-safe after all (plain but deeper than FAST_DEPTH).
 */
function carefulWalk(root: unknown, maxBytes: number): boolean {
  const segs: unknown[] = [] // path from the root to the value being visited
  const stack: object[] = [] // containers being visited: stack[d] is the one at path depth d
  const done = new Set<object>()
  let safe = true
  let floor = 0 // lower bound of the serialized size so far
  const grow = (n: number): void => {
    if ((floor += n) > maxBytes) throw tooLarge(floor, maxBytes)
  }
  const fail = (what: string): never => {
    const path = formatPath(segs, segs.length)
    throw new CodecError('serialize', `cannot serialize ${what} at ${path}`, { path })
  }
  /** Accounts for a primitive in place (true); objects, functions and symbols need a visit. */
  const leaf = (v: unknown): boolean => {
    const t = typeof v
    if (t === 'object' ? v !== null : t === 'function' || t === 'symbol') return false
    grow(t === 'string' ? (v as string).length + 1 : 1)
    if (t === 'undefined' || t === 'bigint' || (t === 'number' && !jsonNumber(v as number))) safe = false
    return true
  }
  const child = (seg: unknown, v: unknown): void => {
    if (leaf(v)) return
    segs.push(seg)
    visit(v)
    segs.pop()
  }
  const visit = (v: unknown): void => {
    if (typeof v === 'function') fail(`a function${v.name ? ` (${v.name})` : ''}`)
    if (typeof v === 'symbol') fail(`a symbol (${String(v)})`)
    const o = v as object
    if (done.has(o)) return
    const at = stack.indexOf(o)
    if (at !== -1) {
      const path = formatPath(segs, segs.length)
      const msg = `cannot serialize a circular reference: ${path} refers back to ${formatPath(segs, at)}`
      throw new CodecError('serialize', msg, { path })
    }
    stack.push(o)
    grow(1)
    if (Array.isArray(o) && o.length > SPARSE_SCAN) {
      // By present elements: a[1e8] = 1 is one element, not 1e8 (V8 stores it sparse).
      let present = 0
      for (const k in o) {
        const i = Number(k)
        if (!Object.hasOwn(o, k) || !Number.isInteger(i) || String(i) !== k) continue
        present++
        child(i, o[i])
      }
      if (present < o.length) safe = false // holes
    } else if (Array.isArray(o)) {
      for (let i = 0; i < o.length; i++) child(i, o[i])
    } else if (o instanceof Map) {
      safe = false
      let i = 0
      for (const [key, val] of o) {
        const primitive = leaf(key) // else the path shows the entry number
        if (!primitive) child({ at: 'keys', key, i }, key)
        if (!leaf(val)) child({ at: primitive ? 'get' : 'values', key, i }, val)
        i++
      }
    } else if (o instanceof Set) {
      safe = false
      let i = 0
      for (const key of o) {
        if (!leaf(key)) child({ at: 'values', key, i }, key)
        i++
      }
    } else if (ArrayBuffer.isView(o) || o instanceof Date || LEAVES.some((c) => o instanceof c)) {
      grow(flatFloor(o))
      safe = false // V8 stores these natively
    } else {
      for (const ctor of REJECTED) if (o instanceof ctor) fail(`a ${ctor.name}`)
      const proto = Object.getPrototypeOf(o)
      if (proto !== OBJECT_PROTO && proto !== null) safe = false
      const rec = o as Record<string, unknown>
      for (const k of Object.keys(rec)) child(k, rec[k])
    }
    stack.pop()
    done.add(o)
  }
  try {
    if (!leaf(root)) visit(root)
  } catch (e) {
    throw serializeError(e) // e.g. a throwing getter, or too deep for the stack
  }
  return safe
}

/** Rejects serialized data over `maxBytes` (a string's length is a lower bound of its UTF-8 size). */
function checked(data: string | Uint8Array, maxBytes: number): string | Uint8Array {
  const floor = typeof data === 'string' ? data.length : data.byteLength
  if (floor > maxBytes) throw tooLarge(floor, maxBytes)
  return data
}

function stringify(value: unknown): string {
  let s: string | undefined
  try {
    s = JSON.stringify(value)
  } catch (e) {
    throw serializeError(e, 'as JSON')
  }
  if (s === undefined) throw new CodecError('serialize', `cannot serialize ${typeof value} as JSON`)
  return s
}

// ---- codecs ---------------------------------------------------------------------------------------

/** The read path of `structured` (JSON + V8) and `json` (JSON only: a V8 payload is a miss there). */
function builtinDecode(withV8: boolean): Codec['decode'] {
  return (codec, payload, start, end) => {
    try {
      if (codec === CodecId.JSON) return JSON.parse(text(payload, start, end))
      if (codec === CodecId.V8 && withV8) return v8Decode(bytes(payload, start, end))
    } catch (e) {
      throw decodeError(codec, e)
    }
    throw decodeError(codec, new Error(`not written by the ${withV8 ? 'structured' : 'json'} serializer`))
  }
}

/** `Codec.parseJson` of the built-in codecs: what their `decode` does with a JSON payload, errors aside. */
const parseJson = (payload: Buffer, start: number, end: number): unknown =>
  JSON.parse(text(payload, start, end))

/** `maxBytes`: the most serialized bytes a value may take (maxValueBytes), checked early. */
export function structuredCodec(maxBytes = Infinity): Codec {
  return {
    encode(value: unknown): Encoded {
      if (value === undefined) throw new CodecError('invalid-value', UNDEFINED_MSG)
      const flat = flatFloor(value)
      if (flat > maxBytes) throw tooLarge(flat, maxBytes)
      let safe: boolean
      try {
        fastBudget = maxBytes
        safe =
          isLeaf(value) ||
          (typeof value === 'object' && fastSafe(value as object, 0)) ||
          carefulWalk(value, maxBytes)
      } catch (e) {
        throw serializeError(e) // a throwing getter or Proxy trap
      } finally {
        fastBudget = Infinity
      }
      if (safe) return { codec: CodecId.JSON, data: checked(stringify(value), maxBytes) }
      let data: Uint8Array
      try {
        data = v8.serialize(value)
      } catch (e) {
        throw serializeError(e) // e.g. a Proxy or a host object V8 cannot clone
      }
      return { codec: CodecId.V8, data: checked(data, maxBytes) }
    },
    decode: builtinDecode(true),
    parseJson,
  }
}

export function jsonCodec(maxBytes = Infinity): Codec {
  return {
    encode(value: unknown): Encoded {
      if (value === undefined) throw new CodecError('invalid-value', UNDEFINED_MSG)
      // JSON writes every array slot (a hole as null): at least one byte each.
      const flat = Array.isArray(value) ? value.length : flatFloor(value)
      if (flat > maxBytes) throw tooLarge(flat, maxBytes)
      return { codec: CodecId.JSON, data: checked(stringify(value), maxBytes) }
    },
    decode: builtinDecode(false),
    parseJson,
  }
}

export function customCodec(s: Serializer, maxBytes = Infinity): Codec {
  return {
    encode(value: unknown): Encoded {
      if (value === undefined) throw new CodecError('invalid-value', UNDEFINED_MSG)
      let data: unknown
      try {
        data = s.serialize(value)
      } catch (e) {
        throw new CodecError('serialize', `the custom serializer threw: ${msgOf(e)}`, { cause: e })
      }
      if (typeof data !== 'string' && !(data instanceof Uint8Array)) {
        const got = data === null ? 'null' : typeof data === 'object' ? data.constructor?.name : typeof data
        throw new CodecError('serialize', `serialize() must return a Uint8Array or a string, got ${got}`)
      }
      return { codec: CodecId.CUSTOM, data: checked(data, maxBytes) }
    },
    decode(codec, payload, start, end) {
      if (codec !== CodecId.CUSTOM)
        throw decodeError(codec, new Error('not written by the custom serializer'))
      const copy = new Uint8Array(bytes(payload, start, end)) // own memory: the user may keep it
      try {
        return s.deserialize(copy)
      } catch (e) {
        throw new CodecError('decode', `the custom deserializer threw: ${msgOf(e)}`, { cause: e })
      }
    },
  }
}

/**
 * `undefined` → structured. Throws `CodecError('option')` on anything that is not a serializer.
 * `maxBytes` (maxValueBytes) makes `encode` reject (`'too-large'`) values that cannot fit, before
 * serializing them where a lower bound of their size shows it.
 */
export function createCodec(opt: 'structured' | 'json' | Serializer | undefined, maxBytes = Infinity): Codec {
  if (opt === undefined || opt === 'structured') return structuredCodec(maxBytes)
  if (opt === 'json') return jsonCodec(maxBytes)
  const s = opt as Partial<Serializer> | null
  if (typeof s === 'object' && typeof s?.serialize === 'function' && typeof s.deserialize === 'function') {
    return customCodec(s as Serializer, maxBytes)
  }
  const got = typeof opt === 'string' ? JSON.stringify(opt) : opt === null ? 'null' : typeof opt
  throw new CodecError(
    'option',
    `serializer must be 'structured', 'json' or { serialize, deserialize }, got ${got}`,
  )
}
