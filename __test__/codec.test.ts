import { describe, it, expect } from 'vitest'
import * as v8 from 'node:v8'
import {
  CodecError,
  CodecId,
  createCodec,
  customCodec,
  jsonCodec,
  structuredCodec,
  type Codec,
  type Encoded,
} from '../ts/core/codec'

/** What the native engine does: store bytes, hand back a slice of a larger buffer. */
function toWire(e: Encoded): { chunk: Buffer; start: number; end: number } {
  const body = typeof e.data === 'string' ? Buffer.from(e.data, 'utf8') : Buffer.from(e.data)
  const chunk = Buffer.concat([Buffer.from('HEADER--'), body, Buffer.from('--TRAILER')])
  return { chunk, start: 8, end: 8 + body.length }
}

function roundTrip(codec: Codec, value: unknown): { decoded: unknown; encoded: Encoded } {
  const encoded = codec.encode(value)
  const { chunk, start, end } = toWire(encoded)
  return { decoded: codec.decode(encoded.codec, chunk, start, end), encoded }
}

function codecError(fn: () => unknown): CodecError {
  try {
    fn()
  } catch (e) {
    expect(e).toBeInstanceOf(CodecError)
    return e as CodecError
  }
  throw new Error('expected a CodecError, nothing was thrown')
}

const structured = structuredCodec()

describe('structured codec: JSON-safe values use the JSON codec', () => {
  const order = {
    id: 'ord_123',
    total: 129.5,
    paid: true,
    coupon: null,
    placedAt: '2024-05-01T10:00:00.000Z',
    items: [
      { sku: 'A-1', qty: 2, price: 19.99, tags: ['new', 'sale'] },
      { sku: 'B-2', qty: 1, price: 89.52, tags: [] },
    ],
    customer: { name: 'Zoë Ünïcode 😀', address: { city: 'Łódź', zip: '90-001' } },
  }

  it.each([
    ['object', order],
    ['string', 'hello'],
    ['number', 42],
    ['float', -1.5e-300],
    ['zero', 0],
    ['boolean', false],
    ['null', null],
    ['empty array', []],
    ['empty object', {}],
    ['null-prototype object', Object.assign(Object.create(null), { a: 1 })],
    ['unicode', { s: 'a\u0000b\u2028c\uffff😀' }],
  ])('%s', (_name, value) => {
    const { decoded, encoded } = roundTrip(structured, value)
    expect(encoded.codec).toBe(CodecId.JSON)
    expect(typeof encoded.data).toBe('string')
    expect(encoded.data).toBe(JSON.stringify(value))
    expect(decoded).toEqual(value)
  })

  it('lone surrogates round-trip exactly (JSON escapes them)', () => {
    const value = { s: 'x\ud800y\udc00z' }
    const { decoded, encoded } = roundTrip(structured, value)
    expect(encoded.codec).toBe(CodecId.JSON)
    expect((decoded as { s: string }).s).toBe(value.s)
  })

  it('shared (non-cyclic) references are allowed', () => {
    const shared = { x: 1 }
    const value = { a: shared, b: [shared, shared] }
    const { decoded, encoded } = roundTrip(structured, value)
    expect(encoded.codec).toBe(CodecId.JSON)
    expect(decoded).toEqual({ a: { x: 1 }, b: [{ x: 1 }, { x: 1 }] })
  })

  it('deeply nested plain data still uses JSON', () => {
    let value: unknown = 'leaf'
    for (let i = 0; i < 500; i++) value = { next: [value] }
    const { decoded, encoded } = roundTrip(structured, value)
    expect(encoded.codec).toBe(CodecId.JSON)
    expect(decoded).toEqual(value)
  })

  it('accepts a whole Buffer, a plain Uint8Array and a string payload', () => {
    const e = structured.encode(order)
    const bytes = Buffer.from(e.data as string)
    expect(structured.decode(CodecId.JSON, bytes)).toEqual(order)
    expect(structured.decode(CodecId.JSON, new Uint8Array(bytes))).toEqual(order)
    expect(structured.decode(CodecId.JSON, e.data as string)).toEqual(order)
  })
})

describe('structured codec: special values use V8 and round-trip exactly', () => {
  it('Date, including an invalid Date', () => {
    const value = { at: new Date('2024-05-01T10:00:00.123Z'), bad: new Date(NaN) }
    const { decoded, encoded } = roundTrip(structured, value)
    expect(encoded.codec).toBe(CodecId.V8)
    expect(encoded.data).toBeInstanceOf(Uint8Array)
    const d = decoded as typeof value
    expect(d).toEqual(value)
    expect(d.at).toBeInstanceOf(Date)
    expect(d.at.getTime()).toBe(value.at.getTime())
    expect(d.bad).toBeInstanceOf(Date)
    expect(Number.isNaN(d.bad.getTime())).toBe(true)
  })

  it('top-level Date', () => {
    const { decoded, encoded } = roundTrip(structured, new Date(0))
    expect(encoded.codec).toBe(CodecId.V8)
    expect(decoded).toBeInstanceOf(Date)
    expect((decoded as Date).getTime()).toBe(0)
  })

  it('Map and Set with any keys, nested', () => {
    const objKey = { k: 1 }
    const value = {
      m: new Map<unknown, unknown>([
        ['a', 1],
        [2, new Set([1, 'x', new Date(5)])],
        [objKey, new Map([[null, [1, 2]]])],
      ]),
      s: new Set([{ a: 1 }, [1, 2], 'str']),
    }
    const { decoded, encoded } = roundTrip(structured, value)
    expect(encoded.codec).toBe(CodecId.V8)
    const d = decoded as typeof value
    expect(d).toEqual(value)
    expect(d.m).toBeInstanceOf(Map)
    expect(d.s).toBeInstanceOf(Set)
    const inner = d.m.get(2) as Set<unknown>
    expect(inner).toBeInstanceOf(Set)
    expect([...inner][2]).toBeInstanceOf(Date)
    const keys = [...d.m.keys()]
    expect(keys[2]).toEqual(objKey)
    expect(d.m.get(keys[2])).toBeInstanceOf(Map)
  })

  it('BigInt', () => {
    const value = { n: 12345678901234567890n, neg: -1n, list: [0n] }
    const { decoded, encoded } = roundTrip(structured, value)
    expect(encoded.codec).toBe(CodecId.V8)
    const d = decoded as typeof value
    expect(d).toEqual(value)
    expect(typeof d.n).toBe('bigint')
    expect(d.n).toBe(12345678901234567890n)
    expect(typeof roundTrip(structured, 7n).decoded).toBe('bigint')
  })

  it('undefined inside objects and arrays', () => {
    const value = { a: undefined, b: [1, undefined, 3] }
    const { decoded, encoded } = roundTrip(structured, value)
    expect(encoded.codec).toBe(CodecId.V8)
    const d = decoded as typeof value
    expect(d).toEqual(value)
    expect('a' in d).toBe(true)
    expect(d.a).toBeUndefined()
    expect(d.b).toHaveLength(3)
    expect(1 in d.b).toBe(true)
  })

  it('NaN, Infinity, -Infinity and -0', () => {
    const value = { nan: NaN, inf: Infinity, ninf: -Infinity, nzero: -0, list: [-0, NaN] }
    const { decoded, encoded } = roundTrip(structured, value)
    expect(encoded.codec).toBe(CodecId.V8)
    const d = decoded as typeof value
    expect(d).toEqual(value)
    expect(Number.isNaN(d.nan)).toBe(true)
    expect(d.inf).toBe(Infinity)
    expect(d.ninf).toBe(-Infinity)
    expect(Object.is(d.nzero, -0)).toBe(true)
    expect(Object.is(d.list[0], -0)).toBe(true)
    expect(Object.is(roundTrip(structured, -0).decoded, -0)).toBe(true)
    // +0 stays on the JSON path
    expect(structured.encode({ z: 0 }).codec).toBe(CodecId.JSON)
  })

  it('every number JSON would change, found after JSON-safe values, in arrays and objects', () => {
    // The JSON-safety walk tests each value's type in turn: a bad number after strings, booleans,
    // nulls and good numbers must still take the V8 path, at any depth.
    for (const bad of [NaN, Infinity, -Infinity, -0]) {
      for (const value of [
        ['a', true, null, 1.5, bad],
        { s: 'a', b: false, n: null, x: 2, bad },
        { deep: [{ list: ['a', 1, { last: bad }] }] },
      ]) {
        const { decoded, encoded } = roundTrip(structured, value)
        expect(encoded.codec).toBe(CodecId.V8)
        expect(decoded).toEqual(value)
      }
    }
    expect(structured.encode(['a', true, null, 1.5, { x: [0, 'b'] }]).codec).toBe(CodecId.JSON)
  })

  it('a Buffer comes back as a Buffer, a Uint8Array as a Uint8Array', () => {
    const value = { buf: Buffer.from('héllo'), u8: new Uint8Array([1, 2, 255]) }
    const { decoded, encoded } = roundTrip(structured, value)
    expect(encoded.codec).toBe(CodecId.V8)
    const d = decoded as typeof value
    expect(d).toEqual(value)
    expect(Buffer.isBuffer(d.buf)).toBe(true)
    expect(d.buf.toString()).toBe('héllo')
    expect(Buffer.isBuffer(d.u8)).toBe(false)
    expect(d.u8).toBeInstanceOf(Uint8Array)
    expect(Object.getPrototypeOf(d.u8)).toBe(Uint8Array.prototype)
    expect([...d.u8]).toEqual([1, 2, 255])
    expect(Buffer.isBuffer(roundTrip(structured, Buffer.from([9])).decoded)).toBe(true)
  })

  it('decoded typed arrays own their memory (no view into the payload)', () => {
    const value = { buf: Buffer.from('abc'), u8: new Uint8Array([1, 2, 3]), f64: new Float64Array([1.5]) }
    const encoded = structured.encode(value)
    const { chunk, start, end } = toWire(encoded)
    const d = structured.decode(encoded.codec, chunk, start, end) as typeof value
    chunk.fill(0)
    expect(d.buf.toString()).toBe('abc')
    expect([...d.u8]).toEqual([1, 2, 3])
    expect(d.f64[0]).toBe(1.5)
    expect(d.u8.buffer).not.toBe(chunk.buffer)
    expect(d.u8.buffer.byteLength).toBe(3)
  })

  it('other typed arrays, DataView and ArrayBuffer', () => {
    const ab = new ArrayBuffer(4)
    new Uint8Array(ab).set([1, 2, 3, 4])
    const value = {
      i16: new Int16Array([-1, 2]),
      f32: new Float32Array([0.5]),
      f64: new Float64Array([Math.PI, NaN]),
      big: new BigInt64Array([-5n]),
      clamped: new Uint8ClampedArray([300 as number]),
      dv: new DataView(ab, 1, 2),
      ab,
    }
    const { decoded, encoded } = roundTrip(structured, value)
    expect(encoded.codec).toBe(CodecId.V8)
    const d = decoded as typeof value
    expect(d).toEqual(value)
    expect(d.i16).toBeInstanceOf(Int16Array)
    expect(d.f32).toBeInstanceOf(Float32Array)
    expect(d.f64).toBeInstanceOf(Float64Array)
    expect(d.big).toBeInstanceOf(BigInt64Array)
    expect(d.big[0]).toBe(-5n)
    expect(d.clamped).toBeInstanceOf(Uint8ClampedArray)
    expect(d.dv).toBeInstanceOf(DataView)
    expect(d.dv.getUint8(0)).toBe(2)
    expect(d.dv.byteLength).toBe(2)
    expect(d.ab).toBeInstanceOf(ArrayBuffer)
    expect([...new Uint8Array(d.ab)]).toEqual([1, 2, 3, 4])
  })

  it('a special value deep inside otherwise plain data switches the whole value to V8', () => {
    const value = { items: [{ a: 1 }, { b: [1, 2, { when: new Date(1) }] }] }
    const { decoded, encoded } = roundTrip(structured, value)
    expect(encoded.codec).toBe(CodecId.V8)
    expect(decoded).toEqual(value)
  })

  it('shared references inside V8 values are kept shared; sparse arrays are kept', () => {
    const shared = { x: new Date(1) }
    // eslint-disable-next-line no-sparse-arrays
    const value = { a: shared, b: shared, sparse: [1, , 3] }
    const d = roundTrip(structured, value).decoded as typeof value
    expect(d.a).toBe(d.b)
    expect(d.sparse).toHaveLength(3)
    expect(1 in d.sparse).toBe(false)
  })

  it('class instances come back as plain objects of their own enumerable data (like structuredClone)', () => {
    class Money {
      constructor(
        public amount: number,
        public currency: string,
      ) {}
      toJSON() {
        return `${this.amount} ${this.currency}`
      }
    }
    const { decoded, encoded } = roundTrip(structured, { price: new Money(5, 'EUR') })
    expect(encoded.codec).toBe(CodecId.V8)
    const d = decoded as { price: Money }
    expect(d.price).not.toBeInstanceOf(Money)
    expect(d.price).toEqual({ amount: 5, currency: 'EUR' })
  })

  it('RegExp and Error are stored by V8', () => {
    const d = roundTrip(structured, { r: /a+b/gi, e: new TypeError('bad input') }).decoded as {
      r: RegExp
      e: Error
    }
    expect(d.r).toBeInstanceOf(RegExp)
    expect(d.r.source).toBe('a+b')
    expect(d.r.flags).toBe('gi')
    expect(d.e).toBeInstanceOf(TypeError)
    expect(d.e.message).toBe('bad input')
  })

  it('a class instance without special fields still goes via V8 (its prototype is not JSON)', () => {
    class Point {
      constructor(
        public x: number,
        public y: number,
      ) {}
    }
    const { decoded, encoded } = roundTrip(structured, [new Point(1, 2)])
    expect(encoded.codec).toBe(CodecId.V8)
    expect(decoded).toEqual([{ x: 1, y: 2 }])
  })

  it('an own "constructor" key does not fool the plain-object check', () => {
    const value = { constructor: 'Foo', nested: { constructor: { name: 'x' } } }
    const { decoded, encoded } = roundTrip(structured, value)
    expect(encoded.codec).toBe(CodecId.JSON)
    expect(decoded).toEqual(value)
  })

  it('a V8 payload handed over as a latin1 string decodes too', () => {
    const value = { at: new Date(7), m: new Map([['k', 1n]]) }
    const e = structured.encode(value)
    const latin1 = Buffer.from(e.data as Uint8Array).toString('latin1')
    expect(structured.decode(CodecId.V8, latin1)).toEqual(value)
  })
})

describe('structured codec: rejected values', () => {
  it('top-level undefined is an invalid value', () => {
    const e = codecError(() => structured.encode(undefined))
    expect(e.reason).toBe('invalid-value')
    expect(e.message).toContain('store null instead')
  })

  it('a cycle names its path and the ancestor it points to', () => {
    const value: Record<string, unknown> = { a: { b: [1, 2, null] } }
    ;((value.a as { b: unknown[] }).b as unknown[])[2] = value.a
    const e = codecError(() => structured.encode(value))
    expect(e.reason).toBe('serialize')
    expect(e.path).toBe('value.a.b[2]')
    expect(e.message).toContain('value.a.b[2]')
    expect(e.message).toContain('refers back to value.a')
  })

  it('a self-reference at the top and a cycle through a Map', () => {
    const self: Record<string, unknown> = {}
    self.me = self
    expect(codecError(() => structured.encode(self)).path).toBe('value.me')
    const m = new Map<string, unknown>()
    const value = { m }
    m.set('back', value)
    const e = codecError(() => structured.encode(value))
    expect(e.reason).toBe('serialize')
    expect(e.message).toContain('value.m.get("back")')
  })

  it('functions anywhere name their path', () => {
    const e = codecError(() => structured.encode({ list: [{ ok: 1 }, { 'odd key': () => 1 }] }))
    expect(e.reason).toBe('serialize')
    expect(e.path).toBe('value.list[1]["odd key"]')
    expect(e.message).toContain('function')
    expect(e.message).toContain('value.list[1]["odd key"]')
    expect(codecError(() => structured.encode(function named() {})).path).toBe('value')
    // even when the value also holds special types
    const e2 = codecError(() => structured.encode({ d: new Date(), s: new Set([1, Math.max]) }))
    expect(e2.path).toBe('value.s.values()[1]')
  })

  it('own toJSON functions are functions too', () => {
    const e = codecError(() => structured.encode({ x: { toJSON: () => 'x' } }))
    expect(e.path).toBe('value.x.toJSON')
  })

  it('symbols anywhere name their path', () => {
    const e = codecError(() => structured.encode({ a: [Symbol('s')] }))
    expect(e.reason).toBe('serialize')
    expect(e.path).toBe('value.a[0]')
    expect(e.message).toContain('symbol')
    expect(codecError(() => structured.encode(Symbol.iterator)).reason).toBe('serialize')
  })

  it('a top-level array cycle, and paths through Map keys and values', () => {
    const a: unknown[] = [1]
    a.push(a)
    const e = codecError(() => structured.encode(a))
    expect(e.path).toBe('value[1]')
    expect(e.message).toContain('value[1] refers back to value')
    const m = new Map<unknown, unknown>([
      [1, 'ok'],
      [{}, { f: Math.min }],
    ])
    expect(codecError(() => structured.encode({ m })).path).toBe('value.m.values()[1].f')
    expect(codecError(() => structured.encode(new Map([[2, [Symbol()]]]))).path).toBe('value.get(2)[0]')
    expect(codecError(() => structured.encode(new Map([[parseInt, 1]]))).path).toBe('value.keys()[0]')
  })

  it('a cycle deeper than the fast walk is still found', () => {
    const root: { next?: unknown } = {}
    let node = root
    for (let i = 0; i < 100; i++) node = (node as { next?: unknown }).next = {}
    ;(node as { next?: unknown }).next = root
    const e = codecError(() => structured.encode(root))
    expect(e.reason).toBe('serialize')
    expect(e.message).toContain('refers back to value')
    expect(e.path).toBe('value' + '.next'.repeat(101))
  })

  it('a throwing getter is a serialize error with the cause', () => {
    const boom = new Error('getter failed')
    const value = {
      get x() {
        throw boom
      },
    }
    const e = codecError(() => structured.encode(value))
    expect(e.reason).toBe('serialize')
    expect(e.cause).toBe(boom)
  })

  it.each([
    ['WeakMap', new WeakMap()],
    ['WeakRef', new WeakRef({})],
    ['WeakSet', new WeakSet()],
    ['Promise', Promise.resolve(1)],
  ])('%s is rejected with its path', (name, bad) => {
    const e = codecError(() => structured.encode({ deep: { x: bad } }))
    expect(e.reason).toBe('serialize')
    expect(e.path).toBe('value.deep.x')
    expect(e.message).toContain(name)
  })
})

describe('decode failures', () => {
  it('corrupt JSON payload', () => {
    const e = codecError(() => structured.decode(CodecId.JSON, Buffer.from('{"a":')))
    expect(e.reason).toBe('decode')
    expect(e.cause).toBeInstanceOf(SyntaxError)
  })

  it('corrupt and truncated V8 payloads', () => {
    expect(codecError(() => structured.decode(CodecId.V8, Buffer.from('garbage'))).reason).toBe('decode')
    const good = v8.serialize({ a: 'hello world', d: new Date() })
    const truncated = good.subarray(0, good.length - 6)
    expect(codecError(() => structured.decode(CodecId.V8, truncated)).reason).toBe('decode')
    expect(codecError(() => structured.decode(CodecId.V8, Buffer.alloc(0))).reason).toBe('decode')
  })

  it('unknown codec ids', () => {
    expect(codecError(() => structured.decode(99, Buffer.from('1'))).reason).toBe('decode')
    expect(codecError(() => structured.decode(CodecId.CUSTOM, Buffer.from('1'))).reason).toBe('decode')
    expect(codecError(() => jsonCodec().decode(CodecId.V8, v8.serialize(1))).reason).toBe('decode')
  })
})

describe('json codec', () => {
  const json = jsonCodec()

  it('has exactly JSON semantics', () => {
    const at = new Date('2024-01-02T03:04:05.000Z')
    const value = { at, m: new Map([[1, 2]]), u: undefined, n: NaN, list: [undefined, 1] }
    const { decoded, encoded } = roundTrip(json, value)
    expect(encoded.codec).toBe(CodecId.JSON)
    expect(encoded.data).toBe(JSON.stringify(value))
    expect(decoded).toEqual({ at: at.toISOString(), m: {}, n: null, list: [null, 1] })
    expect(typeof (decoded as { at: unknown }).at).toBe('string')
  })

  it('rejects cycles, BigInt, top-level functions and undefined', () => {
    const cyc: Record<string, unknown> = {}
    cyc.self = cyc
    expect(codecError(() => json.encode(cyc)).reason).toBe('serialize')
    expect(codecError(() => json.encode({ n: 1n })).reason).toBe('serialize')
    expect(codecError(() => json.encode(() => 1)).reason).toBe('serialize')
    expect(codecError(() => json.encode(undefined)).reason).toBe('invalid-value')
  })

  it('corrupt payload is a decode error', () => {
    expect(codecError(() => json.decode(CodecId.JSON, Buffer.from('nope'))).reason).toBe('decode')
  })
})

describe('custom codec', () => {
  const upper = customCodec({
    serialize: (v) => JSON.stringify(v).toUpperCase(),
    deserialize: (b) => JSON.parse(Buffer.from(b).toString('utf8').toLowerCase()),
  })

  it('round-trips through the user functions (string and bytes)', () => {
    const { decoded, encoded } = roundTrip(upper, { a: 'x' })
    expect(encoded).toEqual({ codec: CodecId.CUSTOM, data: '{"A":"X"}' })
    expect(decoded).toEqual({ a: 'x' })

    const raw = customCodec({ serialize: (v) => v as Uint8Array, deserialize: (b) => b })
    const r = roundTrip(raw, new Uint8Array([1, 2, 3]))
    expect(r.encoded.codec).toBe(CodecId.CUSTOM)
    expect(r.decoded).toEqual(new Uint8Array([1, 2, 3]))
  })

  it('deserialize gets a fresh copy of exactly the payload bytes', () => {
    let seen: Uint8Array | undefined
    const c = customCodec({ serialize: () => new Uint8Array([7, 8]), deserialize: (b) => (seen = b) })
    const { chunk, start, end } = toWire(c.encode(1))
    c.decode(CodecId.CUSTOM, chunk, start, end)
    expect(seen).toBeInstanceOf(Uint8Array)
    expect([...seen!]).toEqual([7, 8])
    expect(seen!.buffer).not.toBe(chunk.buffer)
    expect(seen!.buffer.byteLength).toBe(2)
  })

  it('wraps serializer throws as serialize errors with the cause', () => {
    const boom = new Error('boom')
    const c = customCodec({
      serialize: () => {
        throw boom
      },
      deserialize: () => {
        throw boom
      },
    })
    const e = codecError(() => c.encode({}))
    expect(e.reason).toBe('serialize')
    expect(e.cause).toBe(boom)
    expect(e.message).toContain('boom')
    const d = codecError(() => c.decode(CodecId.CUSTOM, Buffer.from('x')))
    expect(d.reason).toBe('decode')
    expect(d.cause).toBe(boom)
  })

  it('rejects a serializer result that is not bytes or a string', () => {
    for (const bad of [123, null, { a: 1 }, [1, 2], new ArrayBuffer(2)]) {
      const c = customCodec({ serialize: () => bad as unknown as string, deserialize: (b) => b })
      const e = codecError(() => c.encode({}))
      expect(e.reason).toBe('serialize')
      expect(e.message).toContain('Uint8Array or a string')
    }
  })

  it('undefined is still not storable, and foreign codec ids are decode errors', () => {
    expect(codecError(() => upper.encode(undefined)).reason).toBe('invalid-value')
    expect(codecError(() => upper.decode(CodecId.JSON, Buffer.from('1'))).reason).toBe('decode')
  })
})

describe('createCodec', () => {
  it('picks the codec from the option', () => {
    expect(createCodec(undefined).encode(new Date(0)).codec).toBe(CodecId.V8)
    expect(createCodec('structured').encode(new Date(0)).codec).toBe(CodecId.V8)
    expect(createCodec('json').encode(new Date(0))).toEqual({
      codec: CodecId.JSON,
      data: '"1970-01-01T00:00:00.000Z"',
    })
    const c = createCodec({ serialize: () => 'x', deserialize: () => 1 })
    expect(c.encode(1)).toEqual({ codec: CodecId.CUSTOM, data: 'x' })
  })

  it.each([['msgpack'], [null], [42], [{ serialize: () => 'x' }], [{ deserialize: () => 1 }]])(
    'rejects %j',
    (bad) => {
      const e = codecError(() => createCodec(bad as never))
      expect(e.reason).toBe('option')
    },
  )

  it('CodecId values are the wire ids', () => {
    expect(CodecId).toEqual({ JSON: 1, V8: 2, CUSTOM: 3 })
  })
})
