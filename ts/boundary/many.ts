/**
 * Reading the one completion of a `getMany` (format: `src/boundary/frame.rs`, GET_MANY): per key,
 * in order, `status u8 | tag u8 | len u32 | bytes`, each read exactly as the transport reads a
 * `get` — soft errors (Valkey down, timeout, server error) are misses, another error rejects.
 */
import { READ_TRAILER_BYTES, STATUS_ERROR, STATUS_HIT, TAGGED } from './binding'
import { NATIVE_KINDS, type CompletionView } from './completion'
import { cacheError, type CacheError } from '../core/errors'
import type { Codec } from '../core/codec'
import type { L1, StoredRead } from '../tiers/l1'

/** Errors that make a read a miss instead of a rejection (as for `get`). */
const SOFT = new Set(['E_CONNECTION', 'E_TIMEOUT', 'E_SERVER'])

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

/** Decodes every key's result into `m.out` (and the L1); returns the first hard error, if any. */
export function readMany(
  m: Many,
  codec: Codec,
  l1: L1 | undefined,
  c: CompletionView,
): { failure: CacheError | undefined; decodeErrors: number } {
  const { keys, out, slots, epoch } = m
  const { chunk, start, end } = c
  let failure: CacheError | undefined
  let decodeErrors = 0
  let p = start
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
      const id = tg & ~TAGGED
      try {
        const value = codec.decode(id, chunk, from, to - READ_TRAILER_BYTES)
        out[slots[i]] = value
        if (l1 !== undefined) {
          read.codec = id
          read.chunk = chunk
          read.start = from
          read.end = to - READ_TRAILER_BYTES
          read.until = chunk.readDoubleLE(read.end)
          read.tagged = (tg & TAGGED) !== 0
          l1.fill(keys[i], value, read, epoch)
          read.chunk = NO_BYTES
        }
      } catch {
        decodeErrors++
      }
    } else if (st === STATUS_ERROR && failure === undefined) {
      const err = cacheError(NATIVE_KINDS[tg - 1] ?? 'E_INTERNAL', chunk.toString('utf8', from, to))
      if (!SOFT.has(err.code)) failure = err
    }
  }
  return { failure, decodeErrors }
}
