/**
 * The write-behind journal. With Valkey: `partitions` Streams, one consumer group each; a key
 * always goes to the same partition, and each partition is owned by one live consumer at a time
 * (a lease lock in the partition's slot), so per-key order holds however many processes consume.
 * A dead owner's lease expires; the next owner claims its unacknowledged entries (XAUTOCLAIM once
 * they are `claimIdleMs` idle) before reading new ones. In memory mode: an in-process queue with
 * the same interface (not crash-durable).
 */
import { randomBytes } from 'node:crypto'

/** One journaled write as stored. `op` 's' = set, 'd' = delete. */
export interface Journaled {
  /** The entry's id in its partition's stream. */
  id: string
  /** Unique across partitions and stable across redeliveries: what `flush` sees as `id`. */
  uid: string
  key: string
  op: 's' | 'd'
  codec: number
  /** Encoded value (JSON text, or bytes) — empty for deletes. */
  data: string | Buffer
}

/** A dead-lettered write as stored. */
export interface DeadRecord extends Journaled {
  attempts: number
  error: string
}

export interface Journal {
  readonly partitions: number
  append(part: number, key: string, op: 's' | 'd', codec: number, data: string | Uint8Array): Promise<string>
  /** Takes free partitions up to this consumer's fair share, renews owned ones; returns those owned. */
  acquire(): Promise<number[]>
  /** The next entries of an owned partition, oldest first ([] when none or when blocked on a dead owner's entries). */
  read(part: number, count: number): Promise<Journaled[]>
  /** The entries are done (flushed or dead-lettered): acknowledged and deleted. */
  done(part: number, ids: string[]): Promise<void>
  deadLetter(e: Journaled, attempts: number, error: string): Promise<void>
  deadLetters(count: number): Promise<DeadRecord[]>
  /** Per partition, the id of the newest entry right now ('' when empty). */
  marks(): Promise<string[]>
  /** Whether every entry up to the marks is done. */
  reached(marks: string[]): Promise<boolean>
  /** Entries in the journal (all partitions). */
  length(): Promise<number>
  /** Gives the partitions back (another consumer takes over at once). */
  release(): Promise<void>
  /** A round failed midway: unacknowledged entries of ours may be pending. */
  recheck?(): void
}

const GROUP = 'fc-wb'
const RENEW =
  "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end"
const RELEASE =
  "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end"

/** FNV-1a: the key's partition (stable across processes and versions). */
export function partitionOf(key: string, partitions: number): number {
  let h = 0x811c9dc5
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i)
    h = Math.imul(h, 0x01000193)
  }
  return (h >>> 0) % partitions
}

type Fields = (string | null)[]

function parseEntry(raw: unknown, part: number): Journaled | undefined {
  if (!Array.isArray(raw) || typeof raw[0] !== 'string') return undefined
  const f = raw[1] as Fields | null
  if (!Array.isArray(f)) return undefined // deleted while pending
  const m = new Map<string, string>()
  for (let i = 0; i + 1 < f.length; i += 2) m.set(String(f[i]), String(f[i + 1]))
  const key = m.get('k')
  const op = m.get('o')
  if (key === undefined || (op !== 's' && op !== 'd')) return undefined
  const v = m.get('v') ?? ''
  const data = m.get('e') === 'b' ? Buffer.from(v, 'base64') : v
  return { id: raw[0], uid: `${part}-${raw[0]}`, key, op, codec: Number(m.get('c') ?? 0), data }
}

/** Entries from an XREADGROUP reply ([[stream, entries]] in RESP2 or RESP3 form), oldest first. */
function entriesOf(reply: unknown, part: number): Journaled[] {
  if (!Array.isArray(reply) || reply.length === 0) return []
  const first = reply[0] as unknown[]
  const list = Array.isArray(first) ? first[1] : undefined
  if (!Array.isArray(list)) return []
  return list.map((r) => parseEntry(r, part)).filter((e): e is Journaled => e !== undefined)
}

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
    return entriesOf(reply, part)
  }

  append(
    part: number,
    key: string,
    op: 's' | 'd',
    codec: number,
    data: string | Uint8Array,
  ): Promise<string> {
    const s = this.stream(part)
    const binary = typeof data !== 'string'
    // Command replies come back as text: bytes are journaled base64 so they survive exactly.
    const v = binary ? Buffer.from(data).toString('base64') : data
    return this.cmd(s, [
      'XADD',
      s,
      '*',
      'k',
      key,
      'o',
      op,
      'c',
      String(codec),
      'e',
      binary ? 'b' : 't',
      'v',
      v,
    ]).then((id) => String(id))
  }

  async acquire(): Promise<number[]> {
    const now = Date.now()
    const [, , live] = (await Promise.all([
      this.cmd(this.consumersKey, ['ZADD', this.consumersKey, String(now), this.consumer]),
      this.cmd(this.consumersKey, [
        'ZREMRANGEBYSCORE',
        this.consumersKey,
        '-inf',
        String(now - this.leaseMs),
      ]),
      this.cmd(this.consumersKey, ['ZCARD', this.consumersKey]),
      this.cmd(this.consumersKey, ['PEXPIRE', this.consumersKey, String(this.leaseMs * 10)]),
    ])) as number[]
    const share = Math.ceil(this.partitions / Math.max(1, live))
    const renewals = [...this.owned].map(([p, token]) =>
      this.cmd(this.lock(p), ['EVAL', RENEW, '1', this.lock(p), token, String(this.leaseMs)]).then((ok) => {
        if (ok !== 1) {
          this.owned.delete(p) // lost it (we stalled past the lease)
          this.clean.delete(p)
        }
      }),
    )
    await Promise.all(renewals)
    // Over our fair share (a consumer joined): give partitions back, between batches.
    while (this.owned.size > share) {
      const [p, token] = [...this.owned][this.owned.size - 1]
      this.owned.delete(p)
      this.clean.delete(p)
      await this.cmd(this.lock(p), ['EVAL', RELEASE, '1', this.lock(p), token])
    }
    if (this.owned.size < share) {
      const start = Math.floor(Math.random() * this.partitions)
      const tries: Promise<void>[] = []
      for (let i = 0; i < this.partitions; i++) {
        const p = (start + i) % this.partitions
        if (this.owned.has(p)) continue
        const token = randomBytes(12).toString('hex')
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
    for (const [p, token] of this.owned) {
      this.cmd(this.lock(p), ['EVAL', RENEW, '1', this.lock(p), token, String(this.leaseMs)]).catch(() => {})
    }
    const now = Date.now()
    this.cmd(this.consumersKey, ['ZADD', this.consumersKey, String(now), this.consumer]).catch(() => {})
  }

  private async ensureGroup(p: number): Promise<void> {
    if (this.groups.has(p)) return
    const s = this.stream(p)
    try {
      await this.cmd(s, ['XGROUP', 'CREATE', s, GROUP, '0', 'MKSTREAM'])
    } catch (e) {
      if (!/BUSYGROUP/.test(String((e as Error).message))) throw e
    }
    this.groups.add(p)
  }

  async read(part: number, count: number): Promise<Journaled[]> {
    await this.ensureGroup(part)
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
      const ours = claimed.map((c) => parseEntry(c, part)).filter((e): e is Journaled => e !== undefined)
      if (ours.length > 0) return ours
    }
    // 2. Our own unfinished entries (a restart under the same consumer name, or a round that
    //    failed before acknowledging) — looked up once per partition until a round fails — then new ones.
    if (this.ownChecked.has(part)) {
      return this.readGroup(s, part, count, '>')
    }
    const mine = await this.readGroup(s, part, count, '0')
    if (mine.length > 0) return mine
    this.ownChecked.add(part)
    return this.readGroup(s, part, count, '>')
  }

  /** A round failed: our own pending entries may remain, so look them up again. */
  recheck(): void {
    this.ownChecked.clear()
  }

  async done(part: number, ids: string[]): Promise<void> {
    if (ids.length === 0) return
    const s = this.stream(part)
    await Promise.all([this.cmd(s, ['XACK', s, GROUP, ...ids]), this.cmd(s, ['XDEL', s, ...ids])])
  }

  async deadLetter(e: Journaled, attempts: number, error: string): Promise<void> {
    const binary = typeof e.data !== 'string'
    const v = binary ? (e.data as Buffer).toString('base64') : (e.data as string)
    await this.cmd(this.deadKey, [
      'XADD',
      this.deadKey,
      '*',
      'k',
      e.key,
      'o',
      e.op,
      'c',
      String(e.codec),
      'e',
      binary ? 'b' : 't',
      'v',
      v,
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
    const out: DeadRecord[] = []
    for (const r of Array.isArray(raw) ? raw : []) {
      const e = parseEntry(r, -1)
      if (e === undefined) continue
      const f = (r as [string, Fields])[1]
      const m = new Map<string, string>()
      for (let i = 0; i + 1 < f.length; i += 2) m.set(String(f[i]), String(f[i + 1]))
      out.push({
        ...e,
        uid: m.get('src') ?? e.id,
        attempts: Number(m.get('a') ?? 0),
        error: m.get('err') ?? '',
      })
    }
    return out
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
    this.owned.clear()
    this.clean.clear()
    await Promise.all([
      ...owned.map(([p, token]) => this.cmd(this.lock(p), ['EVAL', RELEASE, '1', this.lock(p), token])),
      this.cmd(this.consumersKey, ['ZREM', this.consumersKey, this.consumer]),
    ])
  }
}
