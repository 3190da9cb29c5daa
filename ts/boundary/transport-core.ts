/**
 * The machinery under `Transport` (its base class): request ids and their callbacks, the frame
 * written this tick and its flush, the chunked drain of completions and their decoding (values,
 * entries, probes, command replies, bus events), and close. `Transport` (transport.ts) adds the
 * request methods on top. See transport.ts for how requests and completions flow.
 */
import { performance } from 'node:perf_hooks'
import {
  BUS_ID,
  DRAIN_CHUNK,
  NativeEngine,
  READ_TRAILER_BYTES,
  STATUS_ERROR,
  STATUS_HIT,
  STATUS_STALE,
  TAGGED,
  type EngineOptions,
} from './binding'
import { commandReply, CompletionView, DOWN, MISS, NATIVE_KINDS, Stale } from './completion'
import { RequestFrame } from './frame'
import { readMany, type Many } from './many'
import { CacheError, cacheError, ClosedError, fromNative } from '../core/errors'
import type { Codec } from '../core/codec'
import type { L1, StoredRead } from '../tiers/l1'

export const KIND_VALUE = 0
export const KIND_VOID = 1
export const KIND_FLAG = 2
export const KIND_ENTRY = 3
export const KIND_COMMAND = 4
/** Request kinds as an observer sees them: get (value read), set, delete/has, getOrSet read, command. */
export const REQUEST_KINDS = {
  get: KIND_VALUE,
  set: KIND_VOID,
  flag: KIND_FLAG,
  entry: KIND_ENTRY,
  command: KIND_COMMAND,
}

/** Sees every completion (latency histograms, down/up detection: features/telemetry.ts). */
export interface TransportObserver {
  /** `startedMs` from `performance.now()`; `errorCode` set when the request failed in the engine. */
  completed(kind: number, startedMs: number, errorCode: string | undefined): void
}
/** A read for `has()`: resolves whether `get` would have found a value; counts no hit/miss. */
export const KIND_PROBE = 5
/** The reads of one `getMany`: one completion holding every key's result. */
export const KIND_MANY = 6
/** Added to a read's kind: take the engine's hit/miss count of this read out again. */
export const UNCOUNTED = 8

const NO_BYTES = Buffer.alloc(0)
/** Longest stretch, in ms, that chained drains may hold the event loop before yielding. */
const TURN_BUDGET_MS = 2

/** Errors that make a `get` a miss instead of a rejection: the cache being down must not break reads. */
const SOFT = new Set(['E_CONNECTION', 'E_TIMEOUT', 'E_SERVER'])

export type Settle = (v: unknown) => void

/** Base class of `Transport`: construct a `Transport`. */
export class TransportCore {
  readonly engine: NativeEngine
  /** Values that passed the envelope check but that the codec could not decode. */
  decodeErrors = 0
  /** Engine-counted hits and misses of reads that are not lookups of their own (see `stats()`). */
  uncountedHits = 0
  uncountedMisses = 0
  /** Decode failures of those reads: errors, but neither hit nor miss. */
  uncountedErrors = 0
  closed = false
  /** Receives bus events: tag 0 = message (payload), 1 = (re)subscribed, 2 = subscription lost. */
  onBus?: (tag: number, payload: Buffer) => void
  /** The in-process tier reads fill, when enabled. */
  l1?: L1
  /** Told of every completion, when set. */
  observer?: TransportObserver
  private started: number[] = []
  /**
   * Epoch ms until which the entry of the last `getEntryThen` callback is fresh (0 = unknown or not
   * a hit): read synchronously inside the callback. Refresh-ahead computes an entry's age from it,
   * so a hit costs no extra round trip.
   */
  lastUntil = 0
  private keys: string[] = []
  private epochs: number[] = []
  protected readonly frame = new RequestFrame()
  private batch: number[] = []
  private flushQueued = false
  protected resolves: (Settle | undefined)[] = []
  protected rejects: (Settle | undefined)[] = []
  private kinds: number[] = []
  protected many: (Many | undefined)[] = []
  private free: number[] = []
  protected inflight = 0
  private turnStart = 0
  /** The completion being handled, and what a hit hands the L1: rewritten each time, never kept. */
  private readonly view = new CompletionView()
  private readonly read: StoredRead = { codec: 0, chunk: NO_BYTES, start: 0, end: 0, until: 0, tagged: false }
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

  /** Writes a request without fields after its key and returns its Promise. */
  protected request(op: number, key: string, kind: number): Promise<unknown> {
    let id: number
    try {
      id = this.write(op, key, kind)
    } catch (e) {
      return Promise.reject(e)
    }
    return new Promise((resolve, reject) => {
      this.resolves[id] = resolve
      this.rejects[id] = reject
    })
  }

  /** Writes a request without fields after its key; returns its id, or throws a typed error. */
  protected write(op: number, key: string, kind: number): number {
    const id = this.begin(key, kind)
    const failed = this.guard(id, () => this.frame.header(op, id, key, 0))
    if (failed !== undefined) throw failed
    return id
  }

  /**
   * Writes request `id` with `fn`. When that fails (a request too large to frame), the request is
   * taken back — nothing of it reaches the engine, its batch-mates are untouched — and the typed
   * error its caller rejects with is returned.
   */
  protected guard(id: number, fn: () => void): CacheError | undefined {
    const at = this.frame.mark()
    try {
      fn()
      return undefined
    } catch (e) {
      this.frame.rollback(at)
      this.batch.pop()
      this.resolves[id] = undefined
      this.rejects[id] = undefined
      this.free.push(id)
      if (--this.inflight === 0) this.keepAlive.unref()
      return writeError(e)
    }
  }

  /** Takes an id for a request about to be written, queues the flush of this tick. */
  protected begin(key: string | Buffer, kind: number): number {
    const id = this.free.length > 0 ? (this.free.pop() as number) : this.resolves.length
    this.kinds[id] = kind
    if (this.observer !== undefined) this.started[id] = performance.now()
    if (this.l1 !== undefined && (kind === KIND_VALUE || (kind & ~UNCOUNTED) === KIND_ENTRY)) {
      this.keys[id] = key as string
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

  /** Sends everything written this tick as one batch. */
  flush = (): void => {
    this.flushQueued = false
    if (this.frame.empty) return
    const ids = this.batch
    this.batch = []
    const frame = this.frame.take()
    try {
      this.engine.submit(frame)
    } catch (e) {
      const err = fromNative(e)
      for (const id of ids) this.settle(id, false, err)
    }
  }

  /** The engine's wake-up: it brings the first chunk of a burst (`null` when a drain took it). */
  private onReady = (chunk?: Buffer | null): void => {
    this.turnStart = performance.now()
    if (chunk != null) this.handle(chunk)
  }

  /** Chained drains go on here after yielding to the event loop (the turn budget ran out). */
  private onTurn = (): void => {
    this.turnStart = performance.now()
    this.drain()
  }

  private drain = (): void => {
    const chunk = this.engine.drain(DRAIN_CHUNK)
    if (chunk !== null) this.handle(chunk)
  }

  private handle(chunk: Buffer): void {
    try {
      this.handleChunk(chunk)
    } finally {
      if (chunk[4] === 1) {
        if (performance.now() - this.turnStart < TURN_BUDGET_MS) queueMicrotask(this.drain)
        else setImmediate(this.onTurn)
      }
    }
  }

  private handleChunk(chunk: Buffer): void {
    const count = chunk.readUInt32LE(0)
    const c = this.view
    c.chunk = chunk
    let p = 5
    try {
      for (let i = 0; i < count; i++) {
        c.id = chunk.readUInt32LE(p)
        c.status = chunk[p + 4]
        c.tag = chunk[p + 5]
        c.start = p + 10
        c.end = c.start + chunk.readUInt32LE(p + 6)
        if (c.id === BUS_ID) this.bus(c.tag, chunk.subarray(c.start, c.end))
        else this.complete(c)
        p = c.end
      }
    } finally {
      c.chunk = NO_BYTES
    }
  }

  /**
   * A bus event. Whatever its handler does with a message from the network, an exception must
   * not escape: it would skip the rest of this chunk (requests never settled) or crash the
   * process. The handler validates and counts; this is the last line of defence.
   */
  private bus(tag: number, payload: Buffer): void {
    try {
      this.onBus?.(tag, payload)
    } catch {
      this.busFailures++
    }
  }

  /** Bus events whose handler threw (counted as bad bus messages). */
  busFailures = 0

  /** `get` resolves a value exactly when the read was a hit that decodes; soft errors read as misses. */
  private complete(c: CompletionView): void {
    const { id, status, tag, chunk, start, end } = c
    let kind = this.kinds[id]
    if (kind & UNCOUNTED) {
      kind &= ~UNCOUNTED
      // The engine counted every GET it sent: a hit when fresh, a miss when stale, absent or
      // failed. Only a key it refused before sending (too long) counted neither.
      if (status === STATUS_HIT) this.uncountedHits++
      else if (status !== STATUS_ERROR || NATIVE_KINDS[tag - 1] !== 'E_INVALID_KEY') this.uncountedMisses++
    }
    const observer = this.observer
    if (observer !== undefined) {
      const code = status === STATUS_ERROR ? (NATIVE_KINDS[tag - 1] ?? 'E_INTERNAL') : undefined
      observer.completed(kind, this.started[id], code)
    }
    if (kind === KIND_PROBE) return this.probed(c)
    if (kind === KIND_MANY) return this.manyRead(c)
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
        const codec = tag & ~TAGGED
        try {
          value = this.codec.decode(codec, chunk, start, end - READ_TRAILER_BYTES)
          this.fillL1(c, value, codec)
        } catch {
          this.decodeErrors++
        }
      }
      this.settle(id, true, value)
    } else if (kind === KIND_ENTRY) {
      this.settle(id, true, this.entry(c, this.kinds[id] !== KIND_ENTRY))
    } else if (kind === KIND_COMMAND) this.settle(id, true, commandReply(c))
    else this.settle(id, true, kind === KIND_FLAG ? status === STATUS_HIT : undefined)
  }

  /**
   * The completion of a `getMany`: per key, in order, `status u8 | tag u8 | len u32 | bytes`, each
   * read exactly as `complete` reads a `get` (soft errors are misses; another error rejects); with
   * `JOINED`, its plain JSON values parsed in one go first (`readMany`, many.ts).
   */
  private manyRead(c: CompletionView): void {
    const { id, status, tag, chunk, start, end } = c
    const m = this.many[id] as Many
    this.many[id] = undefined
    if (status === STATUS_ERROR) {
      return this.settle(
        id,
        false,
        cacheError(NATIVE_KINDS[tag - 1] ?? 'E_INTERNAL', chunk.toString('utf8', start, end)),
      )
    }
    const { failure, decodeErrors } = readMany(m, this.codec, this.l1, c)
    this.decodeErrors += decodeErrors
    if (failure !== undefined) this.settle(id, false, failure)
    else this.settle(id, true, m.out)
  }

  private probed(c: CompletionView): void {
    const { id, status, tag, chunk, start, end } = c
    if (status === STATUS_ERROR) {
      const err = cacheError(NATIVE_KINDS[tag - 1] ?? 'E_INTERNAL', chunk.toString('utf8', start, end))
      return SOFT.has(err.code) ? this.settle(id, true, false) : this.settle(id, false, err)
    }
    let live = false
    if (status === STATUS_HIT) {
      try {
        this.codec.decode(tag & 0x7f, chunk, start, end - 8)
        live = true
      } catch {
        this.uncountedErrors++
      }
    }
    this.settle(id, true, live)
  }

  private entry(c: CompletionView, uncounted: boolean): unknown {
    const { status, tag, chunk, end } = c
    this.lastUntil = 0
    if (status !== STATUS_HIT && status !== STATUS_STALE) return MISS
    try {
      const codec = tag & ~TAGGED
      const value = this.codec.decode(codec, chunk, c.start, end - READ_TRAILER_BYTES)
      if (status === STATUS_HIT) this.lastUntil = chunk.readDoubleLE(end - READ_TRAILER_BYTES)
      if (status === STATUS_HIT) this.fillL1(c, value, codec)
      return status === STATUS_HIT ? value : new Stale(value)
    } catch {
      if (uncounted) this.uncountedErrors++
      else this.decodeErrors++
      return MISS
    }
  }

  /** Keeps a decoded hit in L1 (when on), with its bytes and fresh-until time from the read trailer. */
  private fillL1(c: CompletionView, value: unknown, codec: number): void {
    const l1 = this.l1
    if (l1 === undefined) return
    const read = this.read
    read.codec = codec
    read.chunk = c.chunk
    read.start = c.start
    read.end = c.end - READ_TRAILER_BYTES
    read.until = c.chunk.readDoubleLE(read.end)
    read.tagged = (c.tag & TAGGED) !== 0
    l1.fill(this.keys[c.id], value, read, this.epochs[c.id])
    read.chunk = NO_BYTES
  }

  private settle(id: number, ok: boolean, value: unknown): void {
    const fn = ok ? this.resolves[id] : this.rejects[id]
    if (this.kinds[id] === KIND_MANY) this.many[id] = undefined
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

/** A request that could not be written: the caller's typed rejection. */
function writeError(e: unknown): CacheError {
  if (e instanceof CacheError) return e
  const why = e instanceof Error ? e.message : String(e)
  if (e instanceof RangeError)
    return cacheError('E_VALUE_TOO_LARGE', `the request is too large to send: ${why}`)
  return cacheError('E_INTERNAL', `the request could not be written: ${why}`)
}
