/**
 * The hot path between JS and the native engine. Requests issued in one tick are written into
 * one binary frame and submitted once (one pipeline, one round trip). Results come back in small
 * chunks: the engine wakes JS once per burst, and each chunk of CHUNK results is followed by the
 * next one after the continuations of the first have run — so JS decodes while tokio and Valkey
 * work on the rest. A time budget per event-loop turn stops a busy stream of results from
 * starving timers and other I/O.
 */
import { performance } from 'node:perf_hooks'
import { NativeEngine, type EngineOptions } from './binding'
import { cacheError, ClosedError, fromNative, NATIVE_KINDS, type CacheError } from '../core/errors'
import type { Codec } from '../core/codec'
import type { L1 } from '../tiers/l1'

const OP_GET = 1
const OP_SET = 2
const OP_DELETE = 3
const OP_EXISTS = 4
const OP_COMMAND = 5
const STATUS_HIT = 1
const STATUS_ERROR = 2
const STATUS_STALE = 3
const REPLY_INT = 1
const REPLY_BULK = 2
const REPLY_STATUS = 3

const KIND_VALUE = 0
const KIND_VOID = 1
const KIND_FLAG = 2
const KIND_ENTRY = 3
const KIND_COMMAND = 4

/** What `getEntry` resolves when nothing usable is stored. */
export const MISS: unique symbol = Symbol('ferrocache.miss')
/** What `getEntry` resolves when Valkey could not be asked (unreachable, timeout). */
export const DOWN: unique symbol = Symbol('ferrocache.down')
/** Completion id of bus events (pub/sub messages and (re)subscriptions). */
const BUS_ID = 0xffffffff
/** What `getEntry` resolves for a value past its fresh time but within grace. */
export class Stale {
  constructor(readonly value: unknown) {}
}

/** Results handed to JS per drain; measured best on 2 cores (see docs/architecture.md). */
const CHUNK = 8
/** Longest stretch, in ms, that chained drains may hold the event loop before yielding. */
const TURN_BUDGET_MS = 2
const INITIAL_FRAME = 64 * 1024

/** Errors that make a `get` a miss instead of a rejection: the cache being down must not break reads. */
const SOFT = new Set(['E_CONNECTION', 'E_TIMEOUT', 'E_SERVER'])

type Settle = (v: unknown) => void

/** One write of `setMany`. */
export interface SetRequest {
  key: string
  codec: number
  data: string | Uint8Array
  ttlMs: number
  markers?: string[]
}

export class Transport {
  readonly engine: NativeEngine
  /** Values that passed the envelope check but that the codec could not decode. */
  decodeErrors = 0
  closed = false
  /** Receives bus events: tag 0 = message (payload), 1 = (re)subscribed, 2 = subscription lost. */
  onBus?: (tag: number, payload: Buffer) => void
  /** The in-process tier reads fill, when enabled. */
  l1?: L1
  /**
   * Epoch ms until which the entry of the last `getEntryThen` callback is fresh (0 = unknown or not
   * a hit): read synchronously inside the callback. Refresh-ahead computes an entry's age from it,
   * so a hit costs no extra round trip.
   */
  lastUntil = 0
  private keys: string[] = []
  private epochs: number[] = []
  private out = Buffer.allocUnsafe(INITIAL_FRAME)
  private len = 0
  private batch: number[] = []
  private flushQueued = false
  private resolves: (Settle | undefined)[] = []
  private rejects: (Settle | undefined)[] = []
  private kinds: number[] = []
  private free: number[] = []
  private inflight = 0
  private turnStart = 0
  private readonly keepAlive: NodeJS.Timeout
  private closing?: Promise<void>

  constructor(
    options: EngineOptions,
    private readonly codec: Codec,
  ) {
    this.engine = new NativeEngine(options, this.onReady)
    // The engine's wake-up is weak: this timer keeps Node alive only while requests are in flight.
    this.keepAlive = setInterval(() => {}, 1 << 30)
    this.keepAlive.unref()
  }

  get(key: string): Promise<unknown> {
    if (this.closed) return Promise.reject(new ClosedError())
    return this.request(OP_GET, key, KIND_VALUE, 0)
  }

  /**
   * `data` is JSON text (utf8-encoded here) or bytes. The entry lives `ttlMs` (≤ 0: no expiry);
   * with `freshMs` > 0 it turns stale after `freshMs` and stays readable as stale until `ttlMs`.
   */
  set(
    key: string,
    codecId: number,
    data: string | Uint8Array,
    ttlMs: number,
    freshMs = 0,
    markers?: readonly string[],
  ): Promise<unknown> {
    if (this.closed) return Promise.reject(new ClosedError())
    const id = this.writeSet(key, codecId, data, ttlMs, freshMs, markers)
    return new Promise((resolve, reject) => {
      this.resolves[id] = resolve
      this.rejects[id] = reject
    })
  }

  /** Many writes, one Promise (no Promise per entry); rejects with the first failure. */
  setMany(entries: readonly SetRequest[]): Promise<void> {
    if (this.closed) return Promise.reject(new ClosedError())
    return new Promise((resolve, reject) => {
      let left = entries.length
      if (left === 0) return resolve()
      const done = (): void => {
        if (--left === 0) resolve()
      }
      for (const e of entries) {
        const id = this.writeSet(e.key, e.codec, e.data, e.ttlMs, 0, e.markers)
        this.resolves[id] = done
        this.rejects[id] = reject
      }
    })
  }

  /** Many reads, one Promise: values in key order (`undefined` for misses). */
  getMany(keys: readonly string[], out: unknown[], slots: readonly number[]): Promise<unknown[]> {
    if (this.closed) return Promise.reject(new ClosedError())
    return new Promise((resolve, reject) => {
      let left = keys.length
      if (left === 0) return resolve(out)
      for (let i = 0; i < keys.length; i++) {
        const id = this.begin(OP_GET, keys[i], KIND_VALUE, 0)
        const slot = slots[i]
        this.resolves[id] = (v) => {
          out[slot] = v
          if (--left === 0) resolve(out)
        }
        this.rejects[id] = reject
      }
    })
  }

  private writeSet(
    key: string,
    codecId: number,
    data: string | Uint8Array,
    ttlMs: number,
    freshMs: number,
    markers: readonly string[] | undefined,
  ): number {
    let extra = 23 + (typeof data === 'string' ? data.length * 3 : data.byteLength)
    if (markers !== undefined) for (const m of markers) extra += 2 + m.length * 3
    const id = this.begin(OP_SET, key, KIND_VOID, extra)
    const o = this.out
    let at = this.len
    o.writeDoubleLE(ttlMs, at)
    o.writeDoubleLE(freshMs, at + 8)
    o[at + 16] = codecId
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
      const m = (markers as readonly string[])[i]
      const w = o.write(m, at + 2, 'utf8')
      o.writeUInt16LE(w, at)
      at += 2 + w
    }
    this.len = at
    return id
  }

  /**
   * Reads an entry for `getOrSet`: resolves the value when fresh, a `Stale` wrapper when past its
   * fresh time (within grace), or `MISS`.
   */
  getEntry(key: string): Promise<unknown> {
    if (this.closed) return Promise.reject(new ClosedError())
    return this.request(OP_GET, key, KIND_ENTRY, 0)
  }

  /**
   * `getEntry` with callbacks instead of a Promise: the caller settles its own Promise in the
   * callback, so a hit reaches the awaiting code without an extra microtask hop. Callbacks must
   * not throw.
   */
  getEntryThen(key: string, onEntry: (entry: unknown) => void, onError: (e: unknown) => void): void {
    if (this.closed) return onError(new ClosedError())
    const id = this.begin(OP_GET, key, KIND_ENTRY, 0)
    this.resolves[id] = onEntry
    this.rejects[id] = onError
  }

  /**
   * Runs one raw command in the next pipeline. Resolves a number (integer reply), a Buffer (bulk),
   * a string (status), a JSON-decoded array, or `null` (nil). `routeKey` names the key the command
   * touches (for cluster routing); it may be empty.
   */
  command(routeKey: string, args: (string | Buffer)[]): Promise<unknown> {
    if (this.closed) return Promise.reject(new ClosedError())
    let extra = 4
    for (const a of args) extra += 4 + (typeof a === 'string' ? a.length * 3 : a.length)
    const p = this.request(OP_COMMAND, routeKey, KIND_COMMAND, extra)
    const o = this.out
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
    return p
  }

  delete(key: string): Promise<unknown> {
    if (this.closed) return Promise.reject(new ClosedError())
    return this.request(OP_DELETE, key, KIND_FLAG, 0)
  }

  exists(key: string): Promise<unknown> {
    if (this.closed) return Promise.reject(new ClosedError())
    return this.request(OP_EXISTS, key, KIND_FLAG, 0)
  }

  /** Number of requests waiting for a result. */
  get pending(): number {
    return this.inflight
  }

  /** Writes a request and returns its Promise. */
  private request(op: number, key: string, kind: number, extra: number): Promise<unknown> {
    const id = this.begin(op, key, kind, extra)
    return new Promise((resolve, reject) => {
      this.resolves[id] = resolve
      this.rejects[id] = reject
    })
  }

  /** Writes op + id + key (reserving `extra` bytes after it), queues the flush, returns the id. */
  private begin(op: number, key: string, kind: number, extra: number): number {
    const need = 9 + key.length * 3 + extra
    if (this.len + need > this.out.length) this.grow(need)
    const id = this.free.length > 0 ? (this.free.pop() as number) : this.resolves.length
    const o = this.out
    const at = this.len
    o[at] = op
    o.writeUInt32LE(id, at + 1)
    const n = o.write(key, at + 9, 'utf8')
    o.writeUInt32LE(n, at + 5)
    this.len = at + 9 + n
    this.kinds[id] = kind
    if (this.l1 !== undefined && (kind === KIND_VALUE || kind === KIND_ENTRY)) {
      this.keys[id] = key
      this.epochs[id] = this.l1.epoch
    }
    this.batch.push(id)
    if (this.inflight++ === 0) this.keepAlive.ref()
    if (!this.flushQueued) {
      this.flushQueued = true
      queueMicrotask(this.flush)
    }
    return id
  }

  private grow(need: number): void {
    const bigger = Buffer.allocUnsafe(Math.max(this.out.length * 2, this.len + need))
    this.out.copy(bigger, 0, 0, this.len)
    this.out = bigger
  }

  /** Sends everything written this tick as one batch. */
  flush = (): void => {
    this.flushQueued = false
    if (this.len === 0) return
    const ids = this.batch
    this.batch = []
    const frame = this.out.subarray(0, this.len)
    this.len = 0
    try {
      this.engine.submit(frame)
    } catch (e) {
      const err = fromNative(e)
      for (const id of ids) this.settle(id, false, err)
    }
    if (this.out.length > 4 * INITIAL_FRAME) this.out = Buffer.allocUnsafe(INITIAL_FRAME)
  }

  private onReady = (): void => {
    this.turnStart = performance.now()
    this.drain()
  }

  private drain = (): void => {
    const chunk = this.engine.drain(CHUNK)
    if (chunk === null) return
    try {
      this.handleChunk(chunk)
    } finally {
      if (chunk[4] === 1) {
        if (performance.now() - this.turnStart < TURN_BUDGET_MS) queueMicrotask(this.drain)
        else setImmediate(this.onReady)
      }
    }
  }

  private handleChunk(chunk: Buffer): void {
    const count = chunk.readUInt32LE(0)
    let p = 5
    for (let i = 0; i < count; i++) {
      const id = chunk.readUInt32LE(p)
      const status = chunk[p + 4]
      const tag = chunk[p + 5]
      const end = p + 10 + chunk.readUInt32LE(p + 6)
      if (id === BUS_ID) this.onBus?.(tag, chunk.subarray(p + 10, end))
      else this.complete(id, status, tag, chunk, p + 10, end)
      p = end
    }
  }

  private complete(id: number, status: number, tag: number, chunk: Buffer, start: number, end: number): void {
    const kind = this.kinds[id]
    if (status === STATUS_ERROR) {
      const err = cacheError(NATIVE_KINDS[tag - 1] ?? 'E_INTERNAL', chunk.toString('utf8', start, end))
      if (kind === KIND_VALUE && SOFT.has(err.code)) this.settle(id, true, undefined)
      else if (kind === KIND_ENTRY && SOFT.has(err.code)) this.settle(id, true, DOWN)
      else this.settle(id, false, err)
      return
    }
    if (kind === KIND_VALUE) {
      let value: unknown
      if (status === STATUS_HIT) {
        // Reads end with 8 bytes: how long the value may be kept in-process (epoch ms).
        const codec = tag & 0x7f
        try {
          value = this.codec.decode(codec, chunk, start, end - 8)
          const l1 = this.l1
          if (l1 !== undefined) {
            const until = chunk.readDoubleLE(end - 8)
            l1.fill(this.keys[id], value, codec, chunk, start, end - 8, until, tag > 0x7f, this.epochs[id])
          }
        } catch {
          this.decodeErrors++
        }
      }
      this.settle(id, true, value)
    } else if (kind === KIND_ENTRY) this.settle(id, true, this.entry(id, status, tag, chunk, start, end))
    else if (kind === KIND_COMMAND) this.settle(id, true, commandReply(status, tag, chunk, start, end))
    else this.settle(id, true, kind === KIND_FLAG ? status === STATUS_HIT : undefined)
  }

  private entry(id: number, status: number, tag: number, chunk: Buffer, start: number, end: number): unknown {
    this.lastUntil = 0
    if (status !== STATUS_HIT && status !== STATUS_STALE) return MISS
    try {
      const codec = tag & 0x7f
      const value = this.codec.decode(codec, chunk, start, end - 8)
      if (status === STATUS_HIT) this.lastUntil = chunk.readDoubleLE(end - 8)
      if (status === STATUS_HIT && this.l1 !== undefined) {
        const until = chunk.readDoubleLE(end - 8)
        this.l1.fill(this.keys[id], value, codec, chunk, start, end - 8, until, tag > 0x7f, this.epochs[id])
      }
      return status === STATUS_HIT ? value : new Stale(value)
    } catch {
      this.decodeErrors++
      return MISS
    }
  }

  private settle(id: number, ok: boolean, value: unknown): void {
    const fn = ok ? this.resolves[id] : this.rejects[id]
    this.resolves[id] = undefined
    this.rejects[id] = undefined
    this.free.push(id)
    if (--this.inflight === 0) this.keepAlive.unref()
    fn?.(value)
  }

  /** Sends what is queued, waits (bounded) for in-flight requests, then releases everything. */
  close(waitMs: number): Promise<void> {
    if (this.closing) return this.closing
    this.closed = true
    this.flush()
    this.closing = (async () => {
      try {
        await this.engine.close(waitMs)
      } finally {
        for (let chunk = this.engine.drain(1024); chunk !== null; chunk = this.engine.drain(1024)) {
          this.handleChunk(chunk)
        }
        const left: CacheError = new ClosedError('the cache was closed before Valkey answered this request')
        this.resolves.forEach((r, id) => r && this.settle(id, false, left))
        clearInterval(this.keepAlive)
      }
    })()
    return this.closing
  }
}

function commandReply(status: number, tag: number, chunk: Buffer, start: number, end: number): unknown {
  if (status !== STATUS_HIT) return null
  if (tag === REPLY_INT) return Number(chunk.toString('latin1', start, end))
  if (tag === REPLY_BULK) return Buffer.from(chunk.subarray(start, end))
  if (tag === REPLY_STATUS) return chunk.toString('utf8', start, end)
  return JSON.parse(chunk.toString('utf8', start, end))
}
