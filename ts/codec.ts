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

export interface Codec {
  encode(value: unknown): Encoded
  /**
   * Decodes `payload[start, end)` (the whole payload when omitted). A string payload is JSON text
   * for the JSON codec and latin1 (one char per byte) for binary codecs.
   */
  decode(codec: number, payload: Buffer | Uint8Array | string, start?: number, end?: number): unknown
}

export type CodecErrorReason = 'serialize' | 'invalid-value' | 'decode' | 'option'

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

function msgOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e)
}

// ---------------------------------------------------------------------------------------------
// Read path helpers

type Slicer = Buffer & { utf8Slice?(start: number, end: number): string }
const HAS_UTF8_SLICE = typeof (Buffer.prototype as Slicer).utf8Slice === 'function'

function asBuffer(p: Uint8Array): Buffer {
  return p instanceof Buffer ? p : Buffer.from(p.buffer, p.byteOffset, p.byteLength)
}

/** The payload as text; `utf8Slice` skips `toString`'s argument juggling (measured ~10% on 1 KB). */
function text(p: Buffer | Uint8Array | string, start?: number, end?: number): string {
  if (typeof p === 'string') return start === undefined ? p : p.slice(start, end)
  const b = asBuffer(p) as Slicer
  const s = start ?? 0
  const e = end ?? b.length
  return HAS_UTF8_SLICE ? b.utf8Slice!(s, e) : b.toString('utf8', s, e)
}

function bytes(p: Buffer | Uint8Array | string, start?: number, end?: number): Buffer {
  if (typeof p === 'string') return Buffer.from(start === undefined ? p : p.slice(start, end), 'latin1')
  const b = asBuffer(p)
  return start === undefined && end === undefined ? b : b.subarray(start ?? 0, end ?? b.length)
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

// ---------------------------------------------------------------------------------------------
// Write path: the JSON-safety walk

/** Deeper than this, the fast walk gives up (this is also what catches cycles) and the careful walk decides. */
const FAST_DEPTH = 64
const OBJECT_PROTO = Object.prototype

/**
 * Hot path: true when `JSON.parse(JSON.stringify(v))` gives `v` back exactly. No bookkeeping:
 * any doubt (special type, class instance, depth — including a cycle) returns false.
 */
function fastSafe(v: unknown, depth: number): boolean {
  switch (typeof v) {
    case 'string':
    case 'boolean':
      return true
    case 'number':
      // finite, and not -0 (JSON writes it as 0)
      return v - v === 0 && (v !== 0 || 1 / v > 0)
    case 'object': {
      if (v === null) return true
      if (depth > FAST_DEPTH) return false
      if (Array.isArray(v)) {
        for (let i = 0; i < v.length; i++) if (!fastSafe(v[i], depth + 1)) return false // holes read as undefined
        return true
      }
      const proto = Object.getPrototypeOf(v)
      if (proto !== OBJECT_PROTO && proto !== null) return false
      const o = v as Record<string, unknown>
      for (const k in o) if (!fastSafe(o[k], depth + 1)) return false
      return true
    }
    default:
      return false // undefined, bigint, function, symbol
  }
}

// Path segments of the careful walk (formatted only when there is an error to report).
const SEG_PROP = 0
const SEG_INDEX = 1
const SEG_MAP_KEY = 2
const SEG_MAP_VALUE = 3
const SEG_SET = 4
const IDENT = /^[A-Za-z_$][\w$]*$/

function formatPath(kinds: number[], keys: unknown[], idx: number[], n: number): string {
  let s = 'value'
  for (let i = 0; i < n; i++) {
    const k = keys[i]
    switch (kinds[i]) {
      case SEG_PROP:
        s += IDENT.test(k as string) ? `.${k as string}` : `[${JSON.stringify(k)}]`
        break
      case SEG_INDEX:
        s += `[${k as number}]`
        break
      case SEG_MAP_KEY:
        s += `.keys()[${idx[i]}]`
        break
      case SEG_MAP_VALUE:
        s +=
          typeof k === 'string'
            ? `.get(${JSON.stringify(k)})`
            : typeof k === 'number' || typeof k === 'boolean' || typeof k === 'bigint'
              ? `.get(${typeof k === 'bigint' ? `${k}n` : String(k)})`
              : `.values()[${idx[i]}]`
        break
      default:
        s += `.values()[${idx[i]}]`
    }
  }
  return s
}

const REJECTED: [new (...a: never[]) => object, string][] = [
  [WeakMap, 'a WeakMap'],
  [WeakSet, 'a WeakSet'],
  [WeakRef, 'a WeakRef'],
  [Promise, 'a Promise'],
]

/**
 * Slow path, taken only when the fast walk said no: visits everything once (shared references
 * are fine), rejects what cannot be stored with its path, and says whether it is JSON-safe after
 * all (a deep but plain value).
 */
function carefulWalk(root: unknown): boolean {
  const kinds: number[] = []
  const keys: unknown[] = []
  const idx: number[] = []
  const stack: object[] = [] // containers being visited: stack[d] is the value at path depth d
  const done = new Set<object>()
  let safe = true
  const fail = (what: string): never => {
    const path = formatPath(kinds, keys, idx, kinds.length)
    throw new CodecError('serialize', `cannot serialize ${what} at ${path}`, { path })
  }
  const visit = (v: unknown): void => {
    switch (typeof v) {
      case 'string':
      case 'boolean':
        return
      case 'number':
        if (!(v - v === 0 && (v !== 0 || 1 / v > 0))) safe = false
        return
      case 'undefined':
      case 'bigint':
        safe = false
        return
      case 'function':
        return fail(`a function${v.name ? ` (${v.name})` : ''}`)
      case 'symbol':
        return fail(`a symbol (${String(v)})`)
    }
    if (v === null) return
    const o = v as object
    if (done.has(o)) return
    const at = stack.indexOf(o)
    if (at !== -1) {
      const path = formatPath(kinds, keys, idx, kinds.length)
      const target = formatPath(kinds, keys, idx, at)
      throw new CodecError('serialize', `cannot serialize a circular reference: ${path} refers back to ${target}`, {
        path,
      })
    }
    const push = (kind: number, key: unknown, i: number, child: unknown): void => {
      kinds.push(kind)
      keys.push(key)
      idx.push(i)
      visit(child)
      kinds.pop()
      keys.pop()
      idx.pop()
    }
    stack.push(o)
    if (Array.isArray(o)) {
      for (let i = 0; i < o.length; i++) push(SEG_INDEX, i, i, o[i])
    } else if (o instanceof Map) {
      safe = false
      let i = 0
      for (const [k, val] of o) {
        push(SEG_MAP_KEY, k, i, k)
        push(SEG_MAP_VALUE, k, i++, val)
      }
    } else if (o instanceof Set) {
      safe = false
      let i = 0
      for (const val of o) push(SEG_SET, val, i++, val)
    } else if (
      o instanceof Date ||
      o instanceof RegExp ||
      o instanceof Error ||
      o instanceof ArrayBuffer ||
      ArrayBuffer.isView(o)
    ) {
      safe = false // leaves that V8 stores natively
    } else {
      for (const [ctor, name] of REJECTED) if (o instanceof ctor) fail(name)
      const proto = Object.getPrototypeOf(o)
      if (proto !== OBJECT_PROTO && proto !== null) safe = false
      const rec = o as Record<string, unknown>
      for (const k of Object.keys(rec)) push(SEG_PROP, k, 0, rec[k])
    }
    stack.pop()
    done.add(o)
  }
  try {
    visit(root)
  } catch (e) {
    if (e instanceof CodecError) throw e
    throw new CodecError('serialize', `cannot serialize the value: ${msgOf(e)}`, { cause: e })
  }
  return safe
}

function stringify(value: unknown): string {
  let s: string | undefined
  try {
    s = JSON.stringify(value)
  } catch (e) {
    throw new CodecError('serialize', `cannot serialize the value as JSON: ${msgOf(e)}`, { cause: e })
  }
  if (s === undefined) throw new CodecError('serialize', `cannot serialize ${typeof value} as JSON`)
  return s
}

// ---------------------------------------------------------------------------------------------
// Codecs

export function structuredCodec(): Codec {
  return {
    encode(value: unknown): Encoded {
      if (value === undefined) throw new CodecError('invalid-value', UNDEFINED_MSG)
      if (fastSafe(value, 0) || carefulWalk(value)) return { codec: CodecId.JSON, data: stringify(value) }
      try {
        return { codec: CodecId.V8, data: v8.serialize(value) }
      } catch (e) {
        throw new CodecError('serialize', `cannot serialize the value: ${msgOf(e)}`, { cause: e })
      }
    },
    decode(codec, payload, start, end) {
      try {
        if (codec === CodecId.JSON) return JSON.parse(text(payload, start, end))
        if (codec === CodecId.V8) return v8Decode(bytes(payload, start, end))
      } catch (e) {
        throw decodeError(codec, e)
      }
      throw decodeError(codec, new Error('not written by the structured or json serializer'))
    },
  }
}

export function jsonCodec(): Codec {
  return {
    encode(value: unknown): Encoded {
      if (value === undefined) throw new CodecError('invalid-value', UNDEFINED_MSG)
      return { codec: CodecId.JSON, data: stringify(value) }
    },
    decode(codec, payload, start, end) {
      try {
        if (codec === CodecId.JSON) return JSON.parse(text(payload, start, end))
      } catch (e) {
        throw decodeError(codec, e)
      }
      throw decodeError(codec, new Error('not written by the json serializer'))
    },
  }
}

export function customCodec(s: Serializer): Codec {
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
      return { codec: CodecId.CUSTOM, data }
    },
    decode(codec, payload, start, end) {
      if (codec !== CodecId.CUSTOM) throw decodeError(codec, new Error('not written by the custom serializer'))
      const src = bytes(payload, start, end)
      const copy = new Uint8Array(src.length)
      copy.set(src)
      try {
        return s.deserialize(copy)
      } catch (e) {
        throw new CodecError('decode', `the custom deserializer threw: ${msgOf(e)}`, { cause: e })
      }
    },
  }
}

/** `undefined` → structured. Throws `CodecError('option')` on anything that is not a serializer. */
export function createCodec(opt: 'structured' | 'json' | Serializer | undefined): Codec {
  if (opt === undefined || opt === 'structured') return structuredCodec()
  if (opt === 'json') return jsonCodec()
  if (
    typeof opt === 'object' &&
    opt !== null &&
    typeof opt.serialize === 'function' &&
    typeof opt.deserialize === 'function'
  ) {
    return customCodec(opt)
  }
  throw new CodecError(
    'option',
    `serializer must be 'structured', 'json' or { serialize(v), deserialize(bytes) }, got ${
      typeof opt === 'string' ? JSON.stringify(opt) : opt === null ? 'null' : typeof opt
    }`,
  )
}
