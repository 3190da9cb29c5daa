/**
 * The in-process tier in front of Valkey: bounded by entries and bytes, evicting with second
 * chance (an approximation of least-recently-used that costs a flag per hit), never outliving the entry in Valkey (nor its fresh time). Plain-data values are kept as
 * deeply frozen objects and handed out as they are — nobody can mutate the cached copy; values
 * with Dates, Maps, Sets or binary data are kept encoded and decoded on every hit.
 * Coherence comes from the bus: every write, delete and invalidation anywhere drops entries here,
 * and while the bus is disconnected the tier is emptied and bypassed.
 */
import { globMatch } from '../boundary/binding'
import type { Codec } from '../core/codec'
import { CodecId } from '../core/codec'

export const L1_MISS: unique symbol = Symbol('ferrocache.l1miss')

interface Slot {
  value: unknown
  encoded?: Buffer
  codec: number
  size: number
  expiresAt: number
  tagged: boolean
  /** Read since it was last passed over by eviction (second-chance / CLOCK). */
  used: boolean
}

function deepFreeze(v: unknown): void {
  if (typeof v !== 'object' || v === null || Object.isFrozen(v)) return
  Object.freeze(v)
  for (const k of Object.keys(v)) deepFreeze((v as Record<string, unknown>)[k])
}

/**
 * A value as a read brought it: its codec, where its bytes sit in the completion chunk, and its
 * read trailer. The readers keep one each and rewrite it for every read (no object per read).
 */
export interface StoredRead {
  codec: number
  chunk: Buffer
  start: number
  /** End of the value's bytes (the read trailer excluded). */
  end: number
  /** The entry's expiry/fresh time, epoch ms (0 = unknown). */
  until: number
  /** The entry carries tags (a tag invalidation drops it). */
  tagged: boolean
}

export class L1 {
  hits = 0
  /** False while invalidations may be missed (bus not subscribed): reads bypass the tier. */
  enabled: boolean
  /** Bumped by every invalidation: a read issued before one must not fill the tier after it. */
  epoch = 0
  private readonly slots = new Map<string, Slot>()
  private bytes = 0

  constructor(
    private readonly maxEntries: number,
    private readonly maxBytes: number,
    private readonly ttlMs: number,
    private readonly codec: Codec,
    startEnabled: boolean,
  ) {
    this.enabled = startEnabled
  }

  get(key: string): unknown {
    if (!this.enabled) return L1_MISS
    const s = this.slots.get(key)
    if (s === undefined) return L1_MISS
    if (s.expiresAt <= Date.now()) {
      this.remove(key, s)
      return L1_MISS
    }
    s.used = true
    this.hits++
    if (s.encoded === undefined) return s.value
    return this.codec.decode(s.codec, s.encoded, 0, s.encoded.length)
  }

  /** Whether `get(key)` would hit, without counting a hit or refreshing the entry. */
  holds(key: string): boolean {
    if (!this.enabled) return false
    const s = this.slots.get(key)
    return s !== undefined && s.expiresAt > Date.now()
  }

  /**
   * Keeps a value just read from Valkey (`read`: where its bytes are; read here, never kept), unless
   * the L1 changed since the read was issued (`epoch`).
   */
  fill(key: string, value: unknown, read: StoredRead, epoch: number): void {
    if (!this.enabled || epoch !== this.epoch) return
    const { codec, chunk, start, end, until, tagged } = read
    const size = end - start
    if (size > this.maxBytes / 8) return
    const now = Date.now()
    const expiresAt = Math.min(now + this.ttlMs, until > 0 ? until : Infinity)
    if (expiresAt <= now) return
    const old = this.slots.get(key)
    if (old !== undefined) this.remove(key, old)
    const slot: Slot = { value: undefined, codec, size, expiresAt, tagged, used: false }
    if (codec === CodecId.JSON) {
      deepFreeze(value)
      slot.value = value
    } else slot.encoded = Buffer.from(chunk.subarray(start, end))
    this.slots.set(key, slot)
    this.bytes += size
    while (this.slots.size > this.maxEntries || this.bytes > this.maxBytes) {
      const [k, s] = this.slots.entries().next().value as [string, Slot]
      this.slots.delete(k)
      if (s.used && s !== slot) {
        s.used = false // second chance: back to the end of the line
        this.slots.set(k, s)
      } else this.bytes -= s.size
    }
  }

  delete(keys: readonly string[]): void {
    this.epoch++
    for (const k of keys) {
      const s = this.slots.get(k)
      if (s !== undefined) this.remove(k, s)
    }
  }

  /** Drops every entry that carries tags (a tag was invalidated somewhere). */
  dropTagged(): void {
    this.epoch++
    for (const [k, s] of this.slots) if (s.tagged) this.remove(k, s)
  }

  /** Drops entries whose key matches a Valkey glob. */
  dropMatching(glob: string): void {
    this.epoch++
    // The engine's matcher: Valkey's exact rules over UTF-8 bytes, so the tier drops what Valkey deleted.
    const keys = [...this.slots.keys()]
    for (const i of globMatch(glob, keys)) {
      const k = keys[i]
      const s = this.slots.get(k)
      if (s !== undefined) this.remove(k, s)
    }
  }

  clear(): void {
    this.epoch++
    this.slots.clear()
    this.bytes = 0
  }

  get size(): number {
    return this.slots.size
  }

  private remove(key: string, s: Slot): void {
    this.slots.delete(key)
    this.bytes -= s.size
  }
}
