/**
 * The request frame the transport writes: one Buffer per batch, grown as needed and reused. The
 * format is described once, in `src/boundary/frame.rs`; the op codes come from the binding.
 */
import { OP_COMMAND, OP_GET_MANY, OP_SET } from './binding'

/** Bytes a fresh frame starts with (one tick of a busy server fits). */
const INITIAL_FRAME = 64 * 1024
/** op u8 | id u32 | body_len u32 | key_len u32: each request carries its length, so the engine can fail one alone. */
const HEADER_BYTES = 13
/** ttl_ms f64 | fresh_ms f64 | codec u8 | len u32, then the value, then tags u16. */
const SET_FIELDS_BYTES = 23
/** Worst case of UTF-8 bytes per UTF-16 code unit, to reserve room before writing a string. */
const UTF8_MAX = 3

/** One write, as `set` and `setMany` pass it. */
export interface SetFields {
  codecId: number
  /** JSON text (written as UTF-8) or bytes. */
  data: string | Uint8Array
  /** Time to live in ms (≤ 0: no expiry). */
  ttlMs: number
  /** Turns stale after this many ms (0: never; it stays readable as stale until `ttlMs`). */
  freshMs: number
  /** Marker keys of the entry's tags (internal keys: bytes, see `features/tags.ts`). */
  markers?: readonly Buffer[]
}

export class RequestFrame {
  private buf = Buffer.allocUnsafe(INITIAL_FRAME)
  private len = 0
  /** Where the request being written starts. */
  private reqAt = 0

  /** Whether nothing was written since the last `take`. */
  get empty(): boolean {
    return this.len === 0
  }

  /** Where the next request starts: `rollback` to it takes back a request that failed half-written. */
  mark(): number {
    return this.len
  }

  rollback(at: number): void {
    this.len = at
  }

  /** Writes op + id + key and makes room for `extra` more bytes. */
  header(op: number, id: number, key: string | Buffer, extra: number): void {
    const need = HEADER_BYTES + (typeof key === 'string' ? key.length * UTF8_MAX : key.length) + extra
    if (this.len + need > this.buf.length) this.grow(need)
    const o = this.buf
    const at = this.len
    this.reqAt = at
    o[at] = op
    o.writeUInt32LE(id, at + 1)
    const n =
      typeof key === 'string' ? o.write(key, at + HEADER_BYTES, 'utf8') : key.copy(o, at + HEADER_BYTES)
    o.writeUInt32LE(n, at + 9)
    this.len = at + HEADER_BYTES + n
    this.end()
  }

  /** Writes the body length of the request being written (everything after its length field). */
  private end(): void {
    this.buf.writeUInt32LE(this.len - this.reqAt - 9, this.reqAt + 5)
  }

  /** Writes a SET request. */
  set(id: number, key: string, w: SetFields): void {
    const { data, markers } = w
    let extra = SET_FIELDS_BYTES + (typeof data === 'string' ? data.length * UTF8_MAX : data.byteLength)
    if (markers !== undefined) for (const m of markers) extra += 4 + m.length
    this.header(OP_SET, id, key, extra)
    const o = this.buf
    let at = this.len
    o.writeDoubleLE(w.ttlMs, at)
    o.writeDoubleLE(w.freshMs, at + 8)
    o[at + 16] = w.codecId
    const lenAt = at + 17
    at += 21
    let n: number
    if (typeof data === 'string') n = o.write(data, at, 'utf8')
    else {
      o.set(data, at)
      n = data.byteLength
    }
    o.writeUInt32LE(n, lenAt)
    at += n
    const count = markers === undefined ? 0 : markers.length
    o.writeUInt16LE(count, at)
    at += 2
    for (let i = 0; i < count; i++) {
      const m = (markers as readonly Buffer[])[i]
      o.set(m, at + 4)
      o.writeUInt32LE(m.length, at)
      at += 4 + m.length
    }
    this.len = at
    this.end()
  }

  /** Writes a raw COMMAND request (`key` routes it on a cluster; may be empty). */
  command(id: number, key: string | Buffer, args: readonly (string | Buffer)[]): void {
    let extra = 4
    for (const a of args) extra += 4 + (typeof a === 'string' ? a.length * UTF8_MAX : a.length)
    this.header(OP_COMMAND, id, key, extra)
    const o = this.buf
    let at = this.len
    o.writeUInt32LE(args.length, at)
    at += 4
    for (const a of args) {
      let n: number
      if (typeof a === 'string') n = o.write(a, at + 4, 'utf8')
      else {
        a.copy(o, at + 4)
        n = a.length
      }
      o.writeUInt32LE(n, at)
      at += 4 + n
    }
    this.len = at
    this.end()
  }

  /** Writes a GET_MANY request: one GET per key, answered by one completion. */
  getMany(id: number, keys: readonly string[]): void {
    let extra = 4
    for (const k of keys) extra += 4 + k.length * UTF8_MAX
    this.header(OP_GET_MANY, id, '', extra)
    const o = this.buf
    let at = this.len
    o.writeUInt32LE(keys.length, at)
    at += 4
    for (const k of keys) {
      const n = o.write(k, at + 4, 'utf8')
      o.writeUInt32LE(n, at)
      at += 4 + n
    }
    this.len = at
    this.end()
  }

  /**
   * The bytes written since the last call; the frame starts over (the engine copies a batch
   * before `submit` returns, so the buffer is reused). A frame grown far past its initial size
   * is dropped, so one huge batch does not pin its memory.
   */
  take(): Buffer {
    const frame = this.buf.subarray(0, this.len)
    this.len = 0
    if (this.buf.length > 4 * INITIAL_FRAME) this.buf = Buffer.allocUnsafe(INITIAL_FRAME)
    return frame
  }

  private grow(need: number): void {
    const bigger = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.len + need))
    this.buf.copy(bigger, 0, 0, this.len)
    this.buf = bigger
  }
}
