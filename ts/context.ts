/**
 * The state a cache shares with its namespaces: options, codec, the transport to the engine,
 * getOrSet coordination, the optional L1 tier, and the bus that keeps instances coherent.
 */
import {
  BUS_CHANNEL,
  BUS_LOST,
  BUS_MESSAGE,
  BUS_SUBSCRIBED,
  TAGS_MESSAGE,
  decodeBus,
  encodeGlob,
  encodeKeys,
} from './features/bus'
import { createCodec, CodecError, type Codec } from './core/codec'
import { CacheError, InvalidOptionError, InvalidValueError, SerializeError, fromNative } from './core/errors'
import { L1 } from './tiers/l1'
import { resolveOptions, type CacheOptions, type ResolvedOptions } from './core/options'
import { SingleFlight, type FlightCounters } from './features/single-flight'
import { markerKeys } from './features/tags'
import { Transport } from './boundary/transport'
import type { WriteThroughCounters } from './features/write-through'

export function codecToCacheError(e: unknown): CacheError {
  if (e instanceof CacheError) return e
  if (e instanceof CodecError) {
    if (e.reason === 'invalid-value') return new InvalidValueError(e.message)
    if (e.reason === 'option') return new InvalidOptionError(e.message)
    return new SerializeError(e.message, { cause: e })
  }
  return new SerializeError(`cannot serialize the value: ${(e as Error)?.message ?? String(e)}`, { cause: e })
}

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
  private readonly distributed: boolean

  constructor(options: CacheOptions | undefined) {
    const opts = (this.opts = resolveOptions(options))
    try {
      this.codec = createCodec(opts.serializer)
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
        },
        this.codec,
      )
    } catch (e) {
      throw fromNative(e)
    }
    this.distributed = opts.url !== undefined || opts.nodes !== undefined
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
      if (this.distributed) this.transport.engine.subscribe(BUS_CHANNEL)
    }
  }

  /** Keys were written or deleted here (the writes are already queued): tell every L1. */
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

  private publish(message: string): void {
    if (this.distributed && !this.transport.closed) {
      this.transport.command('', ['PUBLISH', BUS_CHANNEL, message]).catch(() => {})
    }
  }

  private onBus(tag: number, payload: Buffer): void {
    const l1 = this.l1
    if (tag === BUS_MESSAGE) {
      const m = decodeBus(payload)
      if (m === undefined) return
      if (m.type === 'k') {
        l1?.delete(m.keys)
        this.flights.wake(m.keys)
      } else if (m.type === 't') l1?.dropTagged()
      else l1?.dropMatching(m.glob)
    } else if (tag === BUS_SUBSCRIBED) {
      if (l1 !== undefined) {
        l1.clear()
        l1.enabled = true
      }
      this.flights.subscribed()
    } else if (tag === BUS_LOST && l1 !== undefined) {
      l1.enabled = false
      l1.clear()
    }
  }
}
