/**
 * The write-behind journal. With Valkey: `partitions` Streams, one consumer group each; a key
 * always goes to the same partition, and each partition is owned by one live consumer at a time
 * (a lease lock in the partition's slot), so per-key order holds however many processes consume.
 * A dead owner's lease expires; the next owner claims its unacknowledged entries (XAUTOCLAIM once
 * they are `claimIdleMs` idle) before reading new ones. In memory mode: an in-process queue with
 * the same interface (not crash-durable).
 */
import { randomBytes } from 'node:crypto'
import {
  RELEASE,
  RENEW,
  entriesIn,
  entriesOf,
  deadRecordsOf,
  entryFields,
  nextId,
  compareIds,
  rawCount,
  type Finished,
  type DeadRecord,
  type Journal,
  type Journaled,
} from './write-behind-records'

export { partitionOf, type DeadRecord, type Journal, type Journaled } from './write-behind-records'

const GROUP = 'fc-wb'
/** How often a consumer under its fair share tries to take more partitions, at most (ms). */
const GRAB_EVERY_MS = 250

/** What the stream journal needs of a cache: its prefix and raw commands (not the `Cache` class). */
export interface JournalStore {
  readonly prefix: string
  _command(routeKey: string, args: (string | Buffer)[]): Promise<unknown>
}

export class StreamJournal implements Journal {
  private readonly owned = new Map<number, string>() // partition → lease token
  private readonly groups = new Set<number>()
  /** Partitions whose own pending entries were read back since the last failed round. */
  private readonly ownChecked = new Set<number>()
  /**
   * Owned partitions with no other consumer's pending entries left. Only the owner reads a
   * partition, so none can appear until it changes hands: checked once per acquisition.
   */
  private readonly clean = new Set<number>()
  /** Per partition, when the latest successful renewal (or take) of its lease was sent. */
  private readonly confirmed = new Map<number, number>()
  /** Per partition, entries done but not yet acknowledged: they travel with the next read. */
  private readonly finished = new Map<number, Finished>()
  /**
   * Per partition, the newest id of the last read when it was a read of new entries that all
   * parsed: everything up to it is then done once those are, so it is trimmed, not deleted by id.
   */
  private readonly readUpTo = new Map<number, string>()
  /** This consumer's fair share of the partitions, from the latest heartbeat. */
  private share?: number
  private nextGrab = 0
  private readonly base: string
  private readonly consumersKey: string
  private readonly deadKey: string

  constructor(
    private readonly cache: JournalStore,
    name: string,
    readonly partitions: number,
    private readonly consumer: string,
    private readonly leaseMs: number,
  ) {
    this.base = `${cache.prefix}{fc-wb:${name}`
    this.consumersKey = `${this.base}}:consumers`
    this.deadKey = `${this.base}}:dead`
  }

  private stream(p: number): string {
    return `${this.base}:${p}}`
  }
  private lock(p: number): string {
    return `${this.stream(p)}:owner`
  }
  private cmd(route: string, args: (string | Buffer)[]): Promise<unknown> {
    return this.cache._command(route, args)
  }
  /** XREADGROUP for this consumer on stream `s`: from `'0'` (its own pending entries) or `'>'` (new ones). */
  private async readGroup(s: string, part: number, count: number, from: '0' | '>'): Promise<Journaled[]> {
    this.readUpTo.delete(part)
    const reply = await this.cmd(s, [
      'XREADGROUP',
      'GROUP',
      GROUP,
      this.consumer,
      'COUNT',
      String(count),
      'STREAMS',
      s,
      from,
    ])
    const entries = entriesOf(reply, part)
    // Of new entries, the ones read are the oldest not yet delivered: with every older one done
    // (the owner reads nothing new while any is pending), the stream can be trimmed up to them.
    if (from === '>' && entries.length > 0 && entries.length === rawCount(reply)) {
      this.readUpTo.set(part, entries[entries.length - 1].id)
    }
    return entries
  }

  append(
    part: number,
    key: string,
    op: 's' | 'd',
    codec: number,
    data: string | Uint8Array,
  ): Promise<string> {
    const s = this.stream(part)
    return this.cmd(s, ['XADD', s, '*', ...entryFields(key, op, codec, data)]).then((id) => String(id))
  }

  /** Heartbeat into the consumers' set; resolves the number of live consumers. */
  private heartbeat(now: number): Promise<number> {
    const k = this.consumersKey
    return Promise.all([
      this.cmd(k, ['ZADD', k, String(now), this.consumer]),
      this.cmd(k, ['ZREMRANGEBYSCORE', k, '-inf', String(now - this.leaseMs)]),
      this.cmd(k, ['ZCARD', k]),
      this.cmd(k, ['PEXPIRE', k, String(this.leaseMs * 10)]),
    ]).then((r) => Number(r[2]))
  }

  async acquire(): Promise<number[]> {
    const now = Date.now()
    const beat = this.heartbeat(now).then((live) => {
      this.share = Math.ceil(this.partitions / Math.max(1, live))
    })
    // The share of the previous heartbeat decides this round, so the heartbeat travels with the
    // reads instead of before them; the first round waits for it.
    if (this.share === undefined) await beat
    else beat.catch(() => {}) // a Valkey failure shows in this round's reads too
    // Finished entries of partitions lost meanwhile: acknowledged now, not left for a takeover.
    const orphans = [...this.finished.keys()].filter((p) => !this.owned.has(p))
    await Promise.all(orphans.flatMap((p) => this.acknowledge(p)))
    const share = this.share ?? this.partitions
    // Over our fair share (a consumer joined): give partitions back, between batches, with their
    // finished entries acknowledged first so the next owner finds none of ours pending.
    while (this.owned.size > share) {
      const [p, token] = [...this.owned][this.owned.size - 1]
      this.drop(p)
      await Promise.all([
        ...this.acknowledge(p),
        this.cmd(this.lock(p), ['EVAL', RELEASE, '1', this.lock(p), token]),
      ])
    }
    if (this.owned.size < share && now >= this.nextGrab) {
      this.nextGrab = now + Math.min(GRAB_EVERY_MS, this.leaseMs / 4)
      const start = Math.floor(Math.random() * this.partitions)
      const tries: Promise<void>[] = []
      for (let i = 0; i < this.partitions; i++) {
        const p = (start + i) % this.partitions
        if (this.owned.has(p)) continue
        const token = randomBytes(12).toString('hex')
        const sentAt = Date.now()
        tries.push(
          this.cmd(this.lock(p), ['SET', this.lock(p), token, 'NX', 'PX', String(this.leaseMs)]).then(
            async (ok) => {
              if (ok !== 'OK') return
              if (this.owned.size >= share) {
                await this.cmd(this.lock(p), ['EVAL', RELEASE, '1', this.lock(p), token])
                return
              }
              this.owned.set(p, token)
              this.clean.delete(p)
              this.confirmed.set(p, sentAt)
            },
          ),
        )
      }
      await Promise.all(tries)
    }
    return [...this.owned.keys()].sort((a, b) => a - b)
  }

  /** Renews the owned leases (while a long flush or its retries run). */
  renew(): void {
    const now = Date.now()
    for (const [p, token] of this.owned) {
      this.cmd(this.lock(p), ['EVAL', RENEW, '1', this.lock(p), token, String(this.leaseMs)]).then(
        (ok) => {
          if (ok === 1 && this.owned.get(p) === token) this.confirmed.set(p, now)
        },
        () => {},
      )
    }
    this.cmd(this.consumersKey, ['ZADD', this.consumersKey, String(now), this.consumer]).catch(() => {})
  }

  private async ensureGroup(p: number): Promise<void> {
    if (this.groups.has(p)) return
    const s = this.stream(p)
    try {
      await this.cmd(s, ['XGROUP', 'CREATE', s, GROUP, '0', 'MKSTREAM'])
    } catch (e) {
      // BUSYGROUP (another consumer created it) is told apart by the stream's groups, not the text.
      if (!(await this.hasGroup(s))) throw e
    }
    this.groups.add(p)
  }

  /** Whether stream `s` has our consumer group (`XINFO GROUPS` lists `name, <group>, …` per group). */
  private async hasGroup(s: string): Promise<boolean> {
    const groups = await this.cmd(s, ['XINFO', 'GROUPS', s]).catch(() => null)
    return Array.isArray(groups) && groups.some((g) => Array.isArray(g) && String(g[1]) === GROUP)
  }

  /**
   * Acknowledges the partition's finished entries, renews its lease and reads up to `count` new
   * entries — all in one tick, so one round trip (same slot: Valkey runs them in this order). Only
   * called while the lease is confirmed for at least half its length more, so the read cannot
   * outrun it; should the renewal still fail (the lock was deleted), the partition is dropped
   * after this read, whose entries are then flushed once more (at least once).
   */
  private async finishAndRead(part: number, count: number): Promise<Journaled[]> {
    const token = this.owned.get(part)
    if (token === undefined) return []
    const s = this.stream(part)
    const lock = this.lock(part)
    const sentAt = Date.now()
    const acked = this.acknowledge(part)
    const renewed = this.cmd(lock, ['EVAL', RENEW, '1', lock, token, String(this.leaseMs)])
    const read = count > 0 ? this.readGroup(s, part, count, '>') : Promise.resolve([])
    const [ok, entries] = await Promise.all([renewed, read, ...acked])
    if (ok === 1) this.confirmed.set(part, sentAt)
    else this.drop(part)
    return entries
  }

  /** Lost a partition's lease (we stalled past it, or the lock was deleted). */
  private drop(part: number): void {
    this.owned.delete(part)
    this.clean.delete(part)
    this.confirmed.delete(part)
  }

  /**
   * XACK of the partition's finished entries, and their removal: XTRIM MINID when they are the
   * oldest in the stream (much cheaper for Valkey than XDEL by id), XDEL otherwise.
   */
  private acknowledge(part: number): Promise<unknown>[] {
    const f = this.finished.get(part)
    if (f === undefined) return []
    this.finished.delete(part)
    const s = this.stream(part)
    const sent = [this.cmd(s, ['XACK', s, GROUP, ...f.ids])]
    if (f.del) sent.push(this.cmd(s, ['XDEL', s, ...f.ids]))
    if (f.below !== undefined) sent.push(this.cmd(s, ['XTRIM', s, 'MINID', f.below]))
    return [
      Promise.all(sent).catch((e: unknown) => {
        this.finish(part, f) // not known to be done: sent again with the next command
        throw e
      }),
    ]
  }

  /** Adds finished entries of `part` to those waiting to be acknowledged. */
  private finish(part: number, f: Finished): void {
    const had = this.finished.get(part)
    if (had === undefined) return void this.finished.set(part, f)
    had.ids.push(...f.ids)
    had.del ||= f.del
    if (f.below !== undefined && (had.below === undefined || compareIds(f.below, had.below) > 0))
      had.below = f.below
  }

  async read(part: number, count: number): Promise<Journaled[]> {
    this.readUpTo.delete(part)
    await this.ensureGroup(part)
    // The usual round (lease confirmed recently, nothing of another consumer pending, our own
    // looked up): one round trip.
    const fresh = (this.confirmed.get(part) ?? -Infinity) > Date.now() - this.leaseMs / 2
    if (fresh && this.clean.has(part) && this.ownChecked.has(part)) return this.finishAndRead(part, count)
    await this.finishAndRead(part, 0) // acknowledge what is finished, and check the lease
    if (!this.owned.has(part)) return []
    const s = this.stream(part)
    // 1. Entries another consumer read and never finished: claimed once idle long enough. Until
    //    all of them are, nothing newer is read (per-key order).
    let others: [string, string][] = []
    if (!this.clean.has(part)) {
      const summary = (await this.cmd(s, ['XPENDING', s, GROUP])) as unknown[] | null
      others = Array.isArray(summary?.[3])
        ? (summary[3] as [string, string][]).filter(([c]) => c !== this.consumer)
        : []
      if (others.length === 0) this.clean.add(part)
    }
    if (others.length > 0) {
      const r = (await this.cmd(s, [
        'XAUTOCLAIM',
        s,
        GROUP,
        this.consumer,
        String(this.leaseMs),
        '0-0',
        'COUNT',
        String(count),
      ])) as unknown[]
      const claimed = Array.isArray(r?.[1]) ? (r[1] as unknown[]) : []
      const gone = Array.isArray(r?.[2]) ? (r[2] as string[]) : []
      if (gone.length > 0) await this.cmd(s, ['XACK', s, GROUP, ...gone])
      if (claimed.length === 0) return [] // not idle yet: the owner may still be alive
      const ours = entriesIn(claimed, part)
      if (ours.length > 0) return ours
    }
    // 2. Our own unfinished entries (a restart under the same consumer name, or a round that
    //    failed before acknowledging) — looked up once per partition until a round fails — then new ones.
    if (!this.ownChecked.has(part)) {
      const mine = await this.readGroup(s, part, count, '0')
      if (mine.length > 0) return mine
      this.ownChecked.add(part)
    }
    return this.finishAndRead(part, count)
  }

  /** A round failed: our own pending entries may remain, so look them up again. */
  recheck(): void {
    this.ownChecked.clear()
    this.groups.clear() // the stream may be gone (deleted keys): create the group again
  }

  done(part: number, ids: string[]): Promise<void> {
    if (ids.length > 0) {
      const upTo = this.readUpTo.get(part)
      const trim = upTo !== undefined && ids[ids.length - 1] === upTo
      this.readUpTo.delete(part)
      this.finish(part, { ids: ids.slice(), del: !trim, below: trim ? nextId(upTo) : undefined })
    }
    return Promise.resolve()
  }

  async deadLetter(e: Journaled, attempts: number, error: string): Promise<void> {
    await this.cmd(this.deadKey, [
      'XADD',
      this.deadKey,
      '*',
      ...entryFields(e.key, e.op, e.codec, e.data),
      'a',
      String(attempts),
      'err',
      error,
      'src',
      e.uid,
    ])
  }

  async deadLetters(count: number): Promise<DeadRecord[]> {
    const raw = (await this.cmd(this.deadKey, [
      'XRANGE',
      this.deadKey,
      '-',
      '+',
      'COUNT',
      String(count),
    ])) as unknown[]
    return deadRecordsOf(raw)
  }

  async marks(): Promise<string[]> {
    return Promise.all(
      Array.from({ length: this.partitions }, async (_, p) => {
        const s = this.stream(p)
        const r = (await this.cmd(s, ['XREVRANGE', s, '+', '-', 'COUNT', '1'])) as unknown[]
        return Array.isArray(r) && Array.isArray(r[0]) ? String((r[0] as unknown[])[0]) : ''
      }),
    )
  }

  async reached(marks: string[]): Promise<boolean> {
    const left = await Promise.all(
      marks.map(async (mark, p) => {
        if (mark === '') return false
        const s = this.stream(p)
        const r = (await this.cmd(s, ['XRANGE', s, '-', mark, 'COUNT', '1'])) as unknown[]
        return Array.isArray(r) && r.length > 0
      }),
    )
    return !left.some(Boolean)
  }

  async length(): Promise<number> {
    const ns = await Promise.all(
      Array.from({ length: this.partitions }, (_, p) => this.cmd(this.stream(p), ['XLEN', this.stream(p)])),
    )
    return ns.reduce((a: number, n) => a + Number(n), 0)
  }

  async release(): Promise<void> {
    const owned = [...this.owned]
    for (const [p] of owned) this.drop(p)
    // Finished entries are acknowledged first (same slot, same tick: Valkey runs them in order).
    const acks = Array.from({ length: this.partitions }, (_, p) => this.acknowledge(p)).flat()
    await Promise.all([
      ...acks,
      ...owned.map(([p, token]) => this.cmd(this.lock(p), ['EVAL', RELEASE, '1', this.lock(p), token])),
      this.cmd(this.consumersKey, ['ZREM', this.consumersKey, this.consumer]),
    ])
  }
}
