/**
 * The last value this process loaded for each key with grace, kept encoded (callers cannot
 * mutate it) and bounded, so fail-safe can serve a stale value while Valkey is unreachable.
 */
import type { Encoded } from '../core/codec'

interface Remembered {
  encoded: Encoded
  expiresAt: number
}

export class GraceMemory {
  private entries = new Map<string, Remembered>()
  constructor(private readonly maxEntries: number) {}

  remember(key: string, encoded: Encoded, expiresAt: number): void {
    this.entries.delete(key)
    this.entries.set(key, { encoded, expiresAt })
    if (this.entries.size > this.maxEntries) {
      const oldest = this.entries.keys().next().value as string
      this.entries.delete(oldest)
    }
  }

  /** Drops a key (its value was replaced at the source: never serve it again). */
  forget(key: string): void {
    this.entries.delete(key)
  }

  /** The remembered value while it is within grace, else undefined. */
  recall(key: string, now: number): Encoded | undefined {
    const e = this.entries.get(key)
    if (e === undefined) return undefined
    if (e.expiresAt <= now) {
      this.entries.delete(key)
      return undefined
    }
    return e.encoded
  }
}
