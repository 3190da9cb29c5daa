/**
 * Reading the one completion of a `getMany` (format: `src/boundary/frame.rs`, GET_MANY): per key,
 * in order, `status u8 | tag u8 | len u32 | bytes`, each read exactly as the transport reads a
 * `get` — soft errors (Valkey down, timeout, server error) are misses, another error rejects.
 *
 * With `JOINED` in the completion's tag, its plain JSON values come first, joined into one text
 * `[v1,"<nonce>",v2,…,vN]` (`src/boundary/joined.rs`): one `JSON.parse` for all of them instead of
 * one per value (parsing is about half of a `getMany`'s time; this saves its per-call part). The parsed array is used only when
 * it has exactly the expected shape — `2N − 1` slots, every odd one the nonce — so a stored value
 * that is not one JSON value can never shift the others; otherwise every value is decoded on its
 * own, from its place in the text, exactly as without joining (decode errors included).
 */
import { JOINED, JOINED_NONCE_BYTES, READ_TRAILER_BYTES, STATUS_ERROR, STATUS_HIT, TAGGED } from './binding'
import { NATIVE_KINDS, type CompletionView } from './completion'
import { cacheError, type CacheError } from '../core/errors'
import type { Codec } from '../core/codec'
import type { L1, StoredRead } from '../tiers/l1'

/** Errors that make a read a miss instead of a rejection (as for `get`). */
const SOFT = new Set(['E_CONNECTION', 'E_TIMEOUT', 'E_SERVER'])
/** Bits of a record's tag that are not its codec id. */
const FLAGS = TAGGED | JOINED
/** Bytes of a joined text's header: joined_count u32 | nonce | text_len u32. */
const JOINED_HEADER_BYTES = 8 + JOINED_NONCE_BYTES
/** Bytes between two values of a joined text: `,"` nonce `",`. */
const SEPARATOR_BYTES = JOINED_NONCE_BYTES + 4

/** Rewritten for every value handed to the L1 (see `StoredRead`). */
const NO_BYTES = Buffer.alloc(0)
const read: StoredRead = { codec: 0, chunk: NO_BYTES, start: 0, end: 0, until: 0, tagged: false }

/** Where the results of one `getMany` go. */
export interface Many {
  keys: readonly string[]
  out: unknown[]
  slots: readonly number[]
  /** The L1's epoch when the read was issued (see `L1.fill`). */
  epoch: number
}

/**
 * The values of a joined text `chunk[from, to)` (at even slots), or `undefined` when the codec
 * does not parse JSON as plain `JSON.parse` or the text is not `count` values joined by `nonce`.
 */
function parseJoined(
  codec: Codec,
  chunk: Buffer,
  from: number,
  to: number,
  count: number,
  nonce: string,
): unknown[] | undefined {
  if (codec.parseJson === undefined) return undefined
  let all: unknown
  try {
    all = codec.parseJson(chunk, from, to)
  } catch {
    return undefined
  }
  if (!Array.isArray(all) || all.length !== 2 * count - 1) return undefined
  for (let i = 1; i < all.length; i += 2) if (all[i] !== nonce) return undefined
  return all
}

/** Decodes every key's result into `m.out` (and the L1); returns the first hard error, if any. */
export function readMany(
  m: Many,
  codec: Codec,
  l1: L1 | undefined,
  c: CompletionView,
): { failure: CacheError | undefined; decodeErrors: number } {
  const { keys, out, slots, epoch } = m
  const { chunk, end } = c
  let failure: CacheError | undefined
  let decodeErrors = 0
  let p = c.start
  /** The parsed joined text (values at even slots), when there is one and it checked out. */
  let joined: unknown[] | undefined
  /** Where the next joined value's bytes start in the text, and its slot in `joined`. */
  let textAt = 0
  let slot = 0
  if ((c.tag & JOINED) !== 0 && p + JOINED_HEADER_BYTES <= end) {
    const count = chunk.readUInt32LE(p)
    const nonce = chunk.toString('latin1', p + 4, p + 4 + JOINED_NONCE_BYTES)
    const from = p + JOINED_HEADER_BYTES
    const to = Math.min(end, from + chunk.readUInt32LE(p + 4 + JOINED_NONCE_BYTES))
    joined = parseJoined(codec, chunk, from, to, count, nonce)
    textAt = from + 1 // after '['
    p = to
  }
  for (let i = 0; i < keys.length; i++) {
    // Every slot is written, misses too: the result is a dense array, never one with holes.
    out[slots[i]] = undefined
    if (p + 6 > end) continue
    const st = chunk[p]
    const tg = chunk[p + 1]
    const from = p + 6
    const to = from + chunk.readUInt32LE(p + 2)
    p = to
    if (st === STATUS_HIT) {
      const id = tg & ~FLAGS
      // The value's bytes: in its record, or (a joined value) next in the text.
      let start = from
      let stop = to - READ_TRAILER_BYTES
      let fromText = false
      if ((tg & JOINED) !== 0) {
        start = textAt
        stop = textAt + chunk.readUInt32LE(from)
        textAt = stop + SEPARATOR_BYTES
        fromText = joined !== undefined
      }
      try {
        const value = fromText ? (joined as unknown[])[slot] : codec.decode(id, chunk, start, stop)
        out[slots[i]] = value
        if (l1 !== undefined) {
          read.codec = id
          read.chunk = chunk
          read.start = start
          read.end = stop
          read.until = chunk.readDoubleLE(to - READ_TRAILER_BYTES)
          read.tagged = (tg & TAGGED) !== 0
          l1.fill(keys[i], value, read, epoch)
          read.chunk = NO_BYTES
        }
      } catch {
        decodeErrors++
      }
      if ((tg & JOINED) !== 0) slot += 2
    } else if (st === STATUS_ERROR && failure === undefined) {
      const err = cacheError(NATIVE_KINDS[tg - 1] ?? 'E_INTERNAL', chunk.toString('utf8', from, to))
      if (!SOFT.has(err.code)) failure = err
    }
  }
  return { failure, decodeErrors }
}
