/**
 * The state a cache shares with its namespaces: options, codec, the transport to the engine,
 * getOrSet coordination, the optional L1 tier, and the bus that keeps instances coherent.
 */
import type { CacheStats } from '../features/metrics'
import {
  BUS_CHANNEL,
  BUS_LOST,
  BUS_MESSAGE,
  BUS_REFUSED,
  BUS_SUBSCRIBED,
  TAGS_MESSAGE,
  decodeBus,
  encodeGlob,
  encodeKeys,
} from '../features/bus'
import { createCodec, type Codec } from '../core/codec'
import { L1_BUS_WAIT_MS } from '../core/defaults'
import { cacheError, codecToCacheError, fromNative } from '../core/errors'
import { NATIVE_KINDS } from '../boundary/completion'
import { L1 } from '../tiers/l1'
import { resolveOptions, type CacheOptions, type ResolvedOptions } from '../core/options'
import { SingleFlight, type FlightCounters } from '../features/single-flight'
import { markerKeys } from '../features/tags'
import { Transport } from '../boundary/transport'
import { describeTarget, Telemetry, type CacheEvent } from '../features/telemetry'
import type { OtelBridge } from '../features/otel'
import type { WriteThroughCounters } from '../features/write-through'

export class Shared {
  readonly opts: ResolvedOptions
  readonly codec: Codec
  readonly transport: Transport
  readonly counters: FlightCounters & WriteThroughCounters = {
    loads: 0,
    loadErrors: 0,
    coalesced: 0,
    lockWaits: 0,
    staleServed: 0,
    refreshes: 0,
    refreshErrors: 0,
    writeThroughErrors: 0,
  }
  readonly flights: SingleFlight
  readonly l1?: L1
  /** Latency histograms, per-procedure stats, down/up events and log lines. */
  readonly telemetry: Telemetry
  /** Set by the root `Cache` when `@opentelemetry/api` is installed. */
  otel?: OtelBridge
  /** Bus messages dropped: not ours, malformed, or failing to apply (see `onBus`). */
  private dropped = 0
  /**
   * Set while a fresh cache with `l1` waits for its first bus subscription: reads wait for it
   * (bounded) so that they can fill L1 correctly from the first one. See `startL1Gate`.
   */
  l1Gate?: Promise<void>
  private openGate?: () => void
  private readonly distributed: boolean

  constructor(options: CacheOptions | undefined) {
    const opts = (this.opts = resolveOptions(options))
    try {
      this.codec = createCodec(opts.serializer, opts.maxValueBytes)
    } catch (e) {
      throw codecToCacheError(e)
    }
    try {
      this.transport = new Transport(
        {
          url: opts.url,
          nodes: opts.nodes,
          poolSize: opts.poolSize,
          connectTimeoutMs: opts.connectTimeoutMs,
          commandTimeoutMs: opts.commandTimeoutMs,
          compressionThreshold: opts.compressionThreshold,
          maxValueBytes: opts.maxValueBytes,
          maxKeyBytes: opts.maxKeyBytes,
          memoryMaxBytes: opts.memoryMaxBytes,
          tlsCa: opts.tlsCa,
          ioPollUs: opts.ioPollUs,
          directSocket: opts.directSocket,
        },
        this.codec,
      )
    } catch (e) {
      throw fromNative(e)
    }
    this.distributed = opts.url !== undefined || opts.nodes !== undefined
    this.telemetry = new Telemetry(opts.logger, describeTarget(opts.url, opts.nodes), opts.name)
    if (opts.onEvent !== undefined) {
      const fn = opts.onEvent as (e: CacheEvent) => void
      for (const type of ['down', 'up', 'error', 'stale'] as const) this.telemetry.on(type, fn)
    }
    this.transport.observer = this.telemetry
    const toMarkers = (tags: unknown) => markerKeys(opts.prefix, tags, 'setTags(tags)')
    this.flights = new SingleFlight(
      this.transport,
      this.codec,
      this.counters,
      this.distributed,
      opts,
      toMarkers,
    )
    this.transport.onBus = (tag, payload) => this.onBus(tag, payload)
    if (opts.l1 !== undefined) {
      const { maxEntries, maxBytes, ttlMs } = opts.l1
      // With Valkey the tier stays off until the bus is subscribed: no invalidation can be missed.
      this.l1 = new L1(maxEntries, maxBytes, ttlMs, this.codec, !this.distributed)
      this.transport.l1 = this.l1
      this.flights.l1 = this.l1
      if (this.distributed) {
        this.startL1Gate(Math.min(L1_BUS_WAIT_MS, opts.commandTimeoutMs))
        this.transport.engine.subscribe(BUS_CHANNEL)
      }
    }
  }

  /**
   * Why the first reads wait for the bus. A value may be kept in L1 only if every later change
   * of it is sure to arrive as a bus message. A change published before our SUBSCRIBE took effect
   * on the server is never delivered, and the read and the subscription travel on different
   * connections, so a read *sent* before the subscription was confirmed may have been answered
   * before it took effect: filling L1 from it could keep a value changed in between, forever
   * (until the L1 ttl). A read sent after the confirmation runs on the server after the
   * subscription, so every change after it is delivered. Hence reads of a fresh cache wait for
   * the confirmation and then fill L1 normally (`L1.epoch` still stops fills racing a message).
   * The wait is bounded (`L1_BUS_WAIT_MS`, at most `commandTimeoutMs`): when the bus is slow or
   * refused, reads go on without L1 (correct, just not cached in-process) until it comes up.
   */
  private startL1Gate(ms: number): void {
    this.l1Gate = new Promise<void>((resolve) => {
      const timer = setTimeout(() => this.liftL1Gate(), ms)
      this.openGate = () => {
        clearTimeout(timer)
        resolve()
      }
    })
  }

  /** Lets waiting reads go (subscribed, timed out, or closing). */
  liftL1Gate(): void {
    this.l1Gate = undefined
    this.openGate?.()
    this.openGate = undefined
  }

  get badBusMessages(): number {
    return this.dropped + this.transport.busFailures
  }

  /** Keys were written or deleted here (the writes are already queued): tell every L1. */
  /** Counters since start: the engine's I/O counters, the L1's hits and the loader counters. */
  stats(): CacheStats {
    const n = this.transport.engine.stats()
    const d = this.transport.decodeErrors
    const l1Hits = this.l1?.hits ?? 0
    const t = this.transport
    // Reads that are not lookups of their own (has(), getOrSet's re-check under the lock) are
    // taken out again: one call, one hit or miss.
    const l2Hits = n.hits - d - t.uncountedHits
    const hits = l2Hits + l1Hits
    const misses = n.misses + d - t.uncountedMisses
    return {
      hits,
      misses,
      l1Hits,
      l2Hits,
      sets: n.sets,
      deletes: n.deletes,
      ...this.counters,
      errors: n.errors + d + this.transport.uncountedErrors,
      badBusMessages: this.badBusMessages,
      bytesWritten: n.bytesWritten,
      bytesRead: n.bytesRead,
      compressedWrites: n.compressedWrites,
      directBatches: n.directBatches,
      hitRate: hits + misses === 0 ? 0 : hits / (hits + misses),
      ...(this.telemetry.procedures.size === 0
        ? {}
        : { procedures: Object.fromEntries([...this.telemetry.procedures].map(([k, v]) => [k, { ...v }])) }),
    }
  }

  wrote(keys: readonly string[]): void {
    if (this.l1 === undefined) return
    this.l1.delete(keys)
    this.publish(encodeKeys(keys))
  }

  tagsInvalidated(): void {
    if (this.l1 === undefined) return
    this.l1.dropTagged()
    this.publish(TAGS_MESSAGE)
  }

  deletedMatching(glob: string): void {
    if (this.l1 === undefined) return
    this.l1.dropMatching(glob)
    this.publish(encodeGlob(glob))
  }

  private publish(message: string | string[]): void {
    if (this.distributed && !this.transport.closed) {
      for (const m of typeof message === 'string' ? [message] : message) {
        this.transport.command('', ['PUBLISH', BUS_CHANNEL, m]).catch(() => {})
      }
    }
  }

  /** Bus events. Never throws (a throw here would skip the rest of a drain chunk). */
  private onBus(tag: number, payload: Buffer): void {
    const l1 = this.l1
    if (tag === BUS_MESSAGE) {
      const m = decodeBus(payload)
      if (m === undefined) {
        this.dropped++
        return
      }
      if (m.type === 'k') {
        l1?.delete(m.keys)
        this.flights.wake(m.keys)
      } else if (m.type === 't') l1?.dropTagged()
      else if (l1 !== undefined) {
        try {
          l1.dropMatching(m.glob)
        } catch {
          // A glob we cannot evaluate: we cannot tell which entries it deleted, so none is kept.
          this.dropped++
          l1.clear()
        }
      }
    } else if (tag === BUS_SUBSCRIBED) {
      if (l1 !== undefined) {
        l1.clear()
        l1.enabled = true
      }
      this.liftL1Gate()
      this.flights.subscribed()
    } else if (tag === BUS_LOST && l1 !== undefined) {
      l1.enabled = false
      l1.clear()
    } else if (tag === BUS_REFUSED) {
      // Reported once per streak by the engine, which keeps retrying with a long backoff. L1 stays
      // off (invalidations would be missed); getOrSet stops waiting for the bus.
      // The payload: the error kind (one byte, as in NATIVE_KINDS), then the message.
      const err = cacheError(NATIVE_KINDS[payload[0] - 1] ?? 'E_INTERNAL', payload.toString('utf8', 1))
      this.liftL1Gate()
      this.flights.busRefused()
      process.emitWarning(err)
    }
  }
}
