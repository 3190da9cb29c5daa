/**
 * What the transport makes of a completion (format: `src/boundary/frame.rs`): the markers a read
 * of `getOrSet` resolves, the error codes by native error kind, and command replies.
 */
import { NATIVE_CODES, REPLY_BULK, REPLY_INT, REPLY_STATUS, STATUS_HIT } from './binding'
import { isCacheErrorCode, type CacheErrorCode } from '../core/errors'

/** Error codes by native error kind (completion `tag` − 1), as Rust defines them. */
export const NATIVE_KINDS: readonly CacheErrorCode[] = NATIVE_CODES.map((c) =>
  isCacheErrorCode(c) ? c : 'E_INTERNAL',
)

/** What `getEntry` resolves when nothing usable is stored. */
export const MISS: unique symbol = Symbol('ferrocache.miss')
/** What `getEntry` resolves when Valkey could not be asked (unreachable, timeout). */
export const DOWN: unique symbol = Symbol('ferrocache.down')
/** What `getEntry` resolves for a value past its fresh time but within grace. */
export class Stale {
  constructor(readonly value: unknown) {}
}

/**
 * One completion of a chunk, as the transport reads it: `id | status | tag | len | bytes`, the bytes
 * being `chunk[start, end)`. One view is rewritten for every completion (no object per
 * completion): read it while handling that completion, never keep it.
 */
export class CompletionView {
  id = 0
  status = 0
  tag = 0
  chunk: Buffer = Buffer.alloc(0)
  start = 0
  end = 0
}

/** The value of a `COMMAND` completion: a number, Buffer, string, parsed JSON or `null` (nil). */
export function commandReply(c: CompletionView): unknown {
  const { tag, chunk, start, end } = c
  if (c.status !== STATUS_HIT) return null
  if (tag === REPLY_INT) return Number(chunk.toString('latin1', start, end))
  if (tag === REPLY_BULK) return Buffer.from(chunk.subarray(start, end))
  if (tag === REPLY_STATUS) return chunk.toString('utf8', start, end)
  return JSON.parse(chunk.toString('utf8', start, end))
}
