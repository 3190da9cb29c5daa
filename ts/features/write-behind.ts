/**
 * Durable write-behind: `set`/`delete` update the cache and journal the write (a Valkey Stream)
 * before resolving; consumers drain the journal in batches into the user's `flush`, retrying with
 * backoff and dead-lettering what keeps failing. Design and guarantees: docs/write-behind.md.
 */
import { hostname } from 'node:os'
import { randomBytes } from 'node:crypto'
import type { Codec } from '../core/codec'
import type { SetOptions } from '../core/plan'
import { ClosedError, InvalidKeyError, InvalidOptionError, InvalidValueError } from '../core/errors'
import type { WriterRegistry } from './telemetry'
import {
  WRITE_BEHIND_DEFAULTS,
  type DeadLetter,
  type WriteBehind,
  type WriteBehindOptions,
  type WriteBehindStats,
} from './write-behind-options'
import { MemoryJournal } from './write-behind-memory'
import {
  StreamJournal,
  partitionOf,
  type Journal,
  type Journaled,
  type JournalStore,
} from './write-behind-journal'

export {
  WRITE_BEHIND_DEFAULTS,
  type DeadLetter,
  type WriteBehind,
  type WriteBehindEntry,
  type WriteBehindOptions,
  type WriteBehindStats,
} from './write-behind-options'

const RETRY_MAX_MS = 30_000
/**
 * Entries one consumer round reads, at least one batch: a backlog is drained in several `flush`
 * calls per round trip, and what the round read is acknowledged with the next read.
 */
const ROUND_ENTRIES = 4000
const DEAD_LETTERS_READ = 10_000

/** What a write-behind writer calls on a cache (a narrow view, so this module does not import `Cache`). */
export interface WriteBehindTarget extends JournalStore {
  readonly _mode: string
  readonly _codec: Codec
  set(key: string, value: unknown, options?: SetOptions): Promise<void>
  delete(key: string): Promise<boolean>
}

function positiveInt(name: string, v: unknown, d: number): number {
  if (v === undefined) return d
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) {
    throw new InvalidOptionError(`writeBehind: \`${name}\` must be an integer ≥ 1, got ${String(v)}`)
  }
  return v
}

/** Creates a writer; `registry` (the cache's) lists it for the metrics until it is closed. */
export function createWriteBehind(
  cache: WriteBehindTarget,
  options: WriteBehindOptions,
  registry?: WriterRegistry,
): WriteBehind {
  const w = new Writer(cache, options)
  if (registry !== undefined) w.unlist = registry.add(w)
  return w
}

const sleep = (ms: number): Promise<void> =>
  new Promise((r) => {
    setTimeout(r, ms).unref()
  })

class Writer implements WriteBehind {
  private readonly journal: Journal
  private readonly o: Required<Omit<WriteBehindOptions, 'consumer'>>
  private readonly counts: WriteBehindStats = {
    journaled: 0,
    flushed: 0,
    retries: 0,
    deadLettered: 0,
    pending: 0,
  }
  private closed = false
  /** The journal's name (the metrics' `writer` label). */
  readonly name: string
  /** Takes the writer off its cache's metrics list (set by `createWriteBehind`). */
  unlist?: () => void
  private sinceRound = 0
  private wake?: () => void
  private roundWaiters: (() => void)[] = []
  private readonly loop: Promise<void>
  private readonly renewer?: NodeJS.Timeout
  /** One Valkey node: a write's journal append and cache write can share one pipeline. */
  private readonly onePipeline: boolean
  /** Entries a round reads: whole batches, `ROUND_ENTRIES` or one batch if that is more. */
  private readonly roundEntries: number

  constructor(
    private readonly cache: WriteBehindTarget,
    options: WriteBehindOptions,
  ) {
    if (typeof options !== 'object' || options === null)
      throw new InvalidOptionError('writeBehind(options) takes an object')
    const { name, flush } = options
    if (typeof name !== 'string' || name === '' || /[{}]/.test(name)) {
      throw new InvalidOptionError('writeBehind: `name` must be a non-empty string without { or }')
    }
    if (typeof flush !== 'function') throw new InvalidOptionError('writeBehind: `flush` must be a function')
    this.name = name
    const d = WRITE_BEHIND_DEFAULTS
    this.o = {
      name,
      flush,
      batchSize: positiveInt('batchSize', options.batchSize, d.batchSize),
      maxDelayMs: positiveInt('maxDelayMs', options.maxDelayMs, d.maxDelayMs),
      maxAttempts: positiveInt('maxAttempts', options.maxAttempts, d.maxAttempts),
      claimIdleMs: positiveInt('claimIdleMs', options.claimIdleMs, d.claimIdleMs),
      retryDelayMs: positiveInt('retryDelayMs', options.retryDelayMs, d.retryDelayMs),
      partitions: positiveInt('partitions', options.partitions, d.partitions),
    }
    const consumer = options.consumer ?? `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`
    if (typeof consumer !== 'string' || consumer === '') {
      throw new InvalidOptionError('writeBehind: `consumer` must be a non-empty string')
    }
    this.onePipeline = cache._mode === 'standalone'
    this.roundEntries = Math.max(1, Math.floor(ROUND_ENTRIES / this.o.batchSize)) * this.o.batchSize
    if (cache._mode === 'memory') this.journal = new MemoryJournal()
    else {
      const j = new StreamJournal(cache, name, this.o.partitions, consumer, this.o.claimIdleMs)
      this.journal = j
      // Leases outlive a long flush (and its retries): renewed at a third of their length.
      this.renewer = setInterval(() => j.renew(), Math.max(10, Math.floor(this.o.claimIdleMs / 3)))
      this.renewer.unref()
    }
    this.loop = this.run()
  }

  async set(key: string, value: unknown, opts?: SetOptions): Promise<void> {
    if (typeof key !== 'string' || key === '')
      throw new InvalidKeyError('writer.set(key, …): key must be a non-empty string')
    if (value === undefined)
      throw new InvalidValueError('writer.set: undefined is not storable; use delete() or null')
    if (this.closed) throw new ClosedError('this write-behind writer was closed')
    const enc = this.cache._codec.encode(value)
    const part = partitionOf(key, this.journal.partitions)
    if (!this.onePipeline) {
      // Journal first: once journaled the write reaches flush; a crash before caching only leaves
      // the cache behind the journal (and the cache write below invalidates on failure).
      await this.journal.append(part, key, 's', enc.codec, enc.data)
      this.journaled()
      try {
        await this.cache.set(key, value, opts)
      } catch {
        await this.cache.delete(key).catch(() => {})
      }
      return
    }
    // One node: the append and the cache write leave in one pipeline, append first, and Valkey
    // runs them in that order — one round trip instead of two, same guarantee (docs/write-behind.md).
    const appended = this.journal.append(part, key, 's', enc.codec, enc.data)
    const cached = this.cache.set(key, value, opts).then(
      () => true,
      () => false,
    )
    try {
      await appended
    } catch (e) {
      // Not journaled: what was just cached must not stay (it would never reach flush).
      await cached
      await this.cache.delete(key).catch(() => {})
      throw e
    }
    this.journaled()
    if (!(await cached)) await this.cache.delete(key).catch(() => {})
  }

  async delete(key: string): Promise<void> {
    if (typeof key !== 'string' || key === '')
      throw new InvalidKeyError('writer.delete(key): key must be a non-empty string')
    if (this.closed) throw new ClosedError('this write-behind writer was closed')
    await this.journal.append(partitionOf(key, this.journal.partitions), key, 'd', 0, '')
    this.journaled()
    await this.cache.delete(key).catch(() => {})
  }

  private journaled(): void {
    this.counts.journaled++
    if (++this.sinceRound >= this.o.batchSize) this.wake?.() // a full batch: no need to wait
  }

  async drain(): Promise<void> {
    const marks = await this.journal.marks()
    while (!(await this.journal.reached(marks))) {
      if (this.closed) throw new ClosedError('this write-behind writer was closed before the journal drained')
      await new Promise<void>((resolve) => {
        this.roundWaiters.push(resolve)
        this.wake?.()
      })
    }
  }

  stats(): WriteBehindStats {
    return { ...this.counts }
  }

  async deadLetters(): Promise<DeadLetter[]> {
    const dead = await this.journal.deadLetters(DEAD_LETTERS_READ)
    return dead.map((e) => ({
      id: e.uid,
      key: e.key,
      value: this.decode(e),
      attempts: e.attempts,
      error: e.error,
    }))
  }

  async close(): Promise<void> {
    if (this.closed) return this.loop
    this.closed = true
    this.wake?.()
    clearInterval(this.renewer)
    await this.loop
    await this.journal.release().catch(() => {})
    this.unlist?.()
    for (const w of this.roundWaiters.splice(0)) w()
  }

  /** Consumes until closed: a round takes owned partitions' oldest entries and flushes them. */
  private async run(): Promise<void> {
    await Promise.resolve()
    let failures = 0
    while (!this.closed) {
      let worked = false
      try {
        this.sinceRound = 0
        const parts = await this.journal.acquire()
        if (parts.length > 0 && !this.closed) {
          const per = Math.max(1, Math.ceil(this.roundEntries / parts.length))
          const read = await Promise.all(parts.map((p) => this.journal.read(p, per)))
          const byPart = parts
            .map((p, i) => ({ part: p, entries: read[i] }))
            .filter((x) => x.entries.length > 0)
          if (byPart.length > 0) {
            worked = true
            await this.process(byPart)
          }
        }
        if (!worked) this.counts.pending = await this.journal.length() // when idle: not per batch
        failures = 0
      } catch (e) {
        if ((e as { code?: string })?.code === 'E_CLOSED') break
        failures++ // Valkey unreachable: try again later (the journal is safe where it is)
        this.journal.recheck?.()
      }
      for (const w of this.roundWaiters.splice(0)) w()
      if (this.closed) break
      if (!worked || failures > 0)
        await this.idle(failures > 0 ? Math.min(this.o.maxDelayMs * failures, 5000) : this.o.maxDelayMs)
    }
    clearInterval(this.renewer) // the cache was closed under us: stop renewing too
  }

  private idle(ms: number): Promise<void> {
    if (this.roundWaiters.length > 0 && ms === this.o.maxDelayMs) ms = Math.min(ms, 20) // a drain is waiting
    return new Promise((resolve) => {
      const t = setTimeout(done, ms)
      t.unref()
      function done(): void {
        clearTimeout(t)
        resolve()
      }
      this.wake = () => {
        this.wake = undefined
        done()
      }
    })
  }

  private decode(e: Journaled): unknown {
    if (e.op === 'd') return undefined
    return this.cache._codec.decode(e.codec, e.data)
  }

  /**
   * What one round read: the last write per key, flushed in batches of at most `batchSize` (each
   * key once, so per-key order holds across them); each batch retried whole, then entry by entry;
   * dead letters last.
   */
  private async process(byPart: { part: number; entries: Journaled[] }[]): Promise<void> {
    const last = new Map<string, Journaled>()
    for (const { entries } of byPart) {
      for (const e of entries) {
        last.delete(e.key)
        last.set(e.key, e)
      }
    }
    const batch: { e: Journaled; value: unknown }[] = []
    for (const e of last.values()) {
      let value: unknown
      try {
        value = this.decode(e)
      } catch (err) {
        await this.dead(e, 0, err) // unreadable: retrying cannot help
        continue
      }
      batch.push({ e, value })
    }
    const total = byPart.reduce((n, x) => n + x.entries.length, 0)
    for (let at = 0; at < batch.length; at += this.o.batchSize) {
      const chunk = batch.slice(at, at + this.o.batchSize)
      if (!(await this.tryFlush(chunk, chunk.length === 1))) {
        for (const one of chunk) await this.tryFlush([one], true) // isolate the entry that fails
      }
    }
    this.counts.flushed += total - this.lastDead
    this.lastDead = 0
    await Promise.all(
      byPart.map(({ part, entries }) =>
        this.journal.done(
          part,
          entries.map((e) => e.id),
        ),
      ),
    )
  }

  private lastDead = 0

  /** Flushes with retries; true when flushed. `final`: dead-letter when attempts run out. */
  private async tryFlush(batch: { e: Journaled; value: unknown }[], final: boolean): Promise<boolean> {
    let error: unknown
    for (let attempt = 1; attempt <= this.o.maxAttempts; attempt++) {
      try {
        await this.o.flush(batch.map(({ e, value }) => ({ id: e.uid, key: e.key, value, attempts: attempt })))
        return true
      } catch (err) {
        error = err
        if (attempt === this.o.maxAttempts) break
        this.counts.retries++
        await sleep(Math.min(this.o.retryDelayMs * 2 ** (attempt - 1), RETRY_MAX_MS))
      }
    }
    if (final) for (const { e } of batch) await this.dead(e, this.o.maxAttempts, error)
    return false
  }

  private async dead(e: Journaled, attempts: number, err: unknown): Promise<void> {
    const message = err instanceof Error ? err.message : String(err)
    await this.journal.deadLetter(e, attempts, message)
    this.counts.deadLettered++
    this.lastDead++
  }
}
