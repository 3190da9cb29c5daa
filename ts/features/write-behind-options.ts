/** What a write-behind writer offers and takes: its interface, options, entries, stats and defaults. */
import type { SetOptions } from '../core/plan'

/** One write handed to `flush`: `value` undefined = delete. `id` is stable across redeliveries. */
export interface WriteBehindEntry {
  id: string
  key: string
  value: unknown
  /** 1 on the first try, 2 on the first retry, … */
  attempts: number
}

export interface WriteBehindOptions {
  /** The journal's name (Streams under the cache's prefix); writers of one name share it. */
  name: string
  /** Writes a batch to the source of truth; reject (throw) to have it retried. */
  flush: (batch: WriteBehindEntry[]) => unknown
  /** Entries per `flush` call, at most (default 100). */
  batchSize?: number
  /** How late a journaled write may reach `flush`, in ms, when batches are not full (default 1000). */
  maxDelayMs?: number
  /** Tries per entry before it goes to the dead-letter stream (default 5). */
  maxAttempts?: number
  /** A dead consumer's entries are taken over after this many ms of silence (default 30000). */
  claimIdleMs?: number
  /** This consumer's name in the group (default host:pid:random). */
  consumer?: string
  /** First retry delay in ms, doubling per retry up to 30 s (default 100). */
  retryDelayMs?: number
  /** Journal partitions (default 16); every writer of one name must use the same number. */
  partitions?: number
}

export interface WriteBehindStats {
  /** Writes this writer journaled. */
  journaled: number
  /** Journal entries this consumer finished by a successful flush (superseded ones included). */
  flushed: number
  /** Failed flush calls that were retried. */
  retries: number
  /** Entries this consumer moved to the dead-letter stream. */
  deadLettered: number
  /** Entries in the journal (all consumers), as of the last round that found nothing to do. */
  pending: number
}

export interface DeadLetter {
  id: string
  key: string
  value: unknown
  attempts: number
  error: string
}

export interface WriteBehind {
  set(key: string, value: unknown, opts?: SetOptions): Promise<void>
  delete(key: string): Promise<void>
  drain(): Promise<void>
  stats(): WriteBehindStats
  deadLetters(): Promise<DeadLetter[]>
  close(): Promise<void>
}

/** Defaults (one place). */
export const WRITE_BEHIND_DEFAULTS = {
  batchSize: 100,
  maxDelayMs: 1000,
  maxAttempts: 5,
  claimIdleMs: 30_000,
  retryDelayMs: 100,
  partitions: 16,
} as const
