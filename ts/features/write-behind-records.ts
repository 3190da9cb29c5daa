/**
 * What a write-behind journal is (the interface both journals implement) and what it stores and
 * reads back: the entry and dead-letter shapes, the partition of a key, stream ids, the parsing of
 * stream replies (anything from the network is checked), and the lease scripts.
 */

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
  /** Takes free partitions up to this consumer's fair share, gives back extra ones; returns those owned. */
  acquire(): Promise<number[]>
  /** The next entries of an owned partition, oldest first ([] when none or when blocked on a dead owner's entries). */
  read(part: number, count: number): Promise<Journaled[]>
  /**
   * The entries are done (flushed or dead-lettered): to be acknowledged and deleted. The stream
   * journal sends that with the partition's next read (or when it gives the partition back).
   */
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

/** FNV-1a: the key's partition (stable across processes and versions). */
export function partitionOf(key: string, partitions: number): number {
  let h = 0x811c9dc5
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i)
    h = Math.imul(h, 0x01000193)
  }
  return (h >>> 0) % partitions
}

/** The fields of an entry, as `append` writes them: k <key> o <op> c <codec> e <t|b> v <value>. */
export function entryFields(key: string, op: 's' | 'd', codec: number, data: string | Uint8Array): string[] {
  const binary = typeof data !== 'string'
  // Command replies come back as text: bytes are journaled base64 so they survive exactly.
  const v = binary ? Buffer.from(data).toString('base64') : data
  return ['k', key, 'o', op, 'c', String(codec), 'e', binary ? 'b' : 't', 'v', v]
}

type Fields = (string | null)[]

/** The fields of a stream entry by name (the order `append` writes is not relied on). */
export function fieldMap(f: Fields): Map<string, string> {
  const m = new Map<string, string>()
  for (let i = 0; i + 1 < f.length; i += 2) m.set(String(f[i]), String(f[i + 1]))
  return m
}

export function parseEntry(raw: unknown, part: number): Journaled | undefined {
  if (!Array.isArray(raw) || typeof raw[0] !== 'string') return undefined
  const f = raw[1] as Fields | null
  if (!Array.isArray(f)) return undefined // deleted while pending
  let key: unknown, op: unknown, codec: unknown, enc: unknown, v: unknown
  if (f.length === 10 && f[0] === 'k' && f[2] === 'o' && f[4] === 'c' && f[6] === 'e' && f[8] === 'v') {
    // The layout `append` writes: read by position (a batch parses thousands of these).
    ;[, key, , op, , codec, , enc, , v] = f
  } else {
    const m = fieldMap(f)
    ;[key, op, codec, enc, v] = [m.get('k'), m.get('o'), m.get('c'), m.get('e'), m.get('v')]
  }
  if (typeof key !== 'string' || (op !== 's' && op !== 'd')) return undefined
  const text = typeof v === 'string' ? v : ''
  const data = enc === 'b' ? Buffer.from(text, 'base64') : text
  return { id: raw[0], uid: `${part}-${raw[0]}`, key, op, codec: Number(codec ?? 0), data }
}

/** Dead letters from an XRANGE reply of the dead-letter stream. */
export function deadRecordsOf(raw: unknown): DeadRecord[] {
  const out: DeadRecord[] = []
  for (const r of Array.isArray(raw) ? raw : []) {
    const e = parseEntry(r, -1)
    if (e === undefined) continue
    const m = fieldMap((r as [string, Fields])[1])
    out.push({
      ...e,
      uid: m.get('src') ?? e.id,
      attempts: Number(m.get('a') ?? 0),
      error: m.get('err') ?? '',
    })
  }
  return out
}

/** Entries of a list of stream entries ([id, fields] pairs), oldest first; malformed ones skipped. */
export function entriesIn(list: unknown, part: number): Journaled[] {
  if (!Array.isArray(list)) return []
  const out: Journaled[] = []
  for (const r of list) {
    const e = parseEntry(r, part)
    if (e !== undefined) out.push(e)
  }
  return out
}

/** Entries from an XREADGROUP reply ([[stream, entries]] in RESP2 or RESP3 form), oldest first. */
export function entriesOf(reply: unknown, part: number): Journaled[] {
  if (!Array.isArray(reply) || reply.length === 0) return []
  const first = reply[0] as unknown[]
  return entriesIn(Array.isArray(first) ? first[1] : undefined, part)
}

/** Entries done, to acknowledge: deleted by id (`del`), or by trimming everything below `below`. */
export interface Finished {
  ids: string[]
  del: boolean
  below?: string
}

/** The stream id right after `id` ("ms-seq"): XTRIM MINID keeps ids from there on. */
export function nextId(id: string): string {
  const dash = id.indexOf('-')
  return `${id.slice(0, dash)}-${BigInt(id.slice(dash + 1)) + 1n}`
}

/** Orders two stream ids. */
export function compareIds(a: string, b: string): number {
  const [am, as] = a.split('-').map(BigInt)
  const [bm, bs] = b.split('-').map(BigInt)
  return am !== bm ? (am < bm ? -1 : 1) : as === bs ? 0 : as < bs ? -1 : 1
}

/** How many entries an XREADGROUP reply holds, parsed or not. */
export function rawCount(reply: unknown): number {
  const first = Array.isArray(reply) ? (reply[0] as unknown) : undefined
  return Array.isArray(first) && Array.isArray(first[1]) ? first[1].length : 0
}
/** Renews a partition's lease if it is still ours. KEYS: lock; ARGV: token, lease ms. */
export const RENEW =
  "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end"
/** Gives a partition back if it is still ours. KEYS: lock; ARGV: token. */
export const RELEASE =
  "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end"
