/**
 * Messages between instances sharing a Valkey, on one pub/sub channel. Every message is a JSON
 * array: `["k", ...keys]` keys written or deleted (wakes getOrSet waiters, drops L1 entries),
 * `["t"]` tags invalidated, `["m", glob]` keys deleted by pattern.
 *
 * Anyone who can PUBLISH can write to the channel, so a message is data from the network: it is
 * checked completely here, and whatever is not exactly one of these shapes is dropped (counted
 * by the receiver), never thrown.
 */
export const BUS_CHANNEL = '__ferrocache:bus'
export { BUS_LOST, BUS_MESSAGE, BUS_REFUSED, BUS_SUBSCRIBED } from '../boundary/binding'

/**
 * Largest message accepted, in bytes. Ours stay well below it (`encodeKeys` splits long key
 * lists); anything larger is not parsed at all, so a hostile message cannot block the event loop
 * in `JSON.parse`.
 */
export const MAX_BUS_MESSAGE_BYTES = 4 * 1024 * 1024
/** Target size of one `["k", ...]` message of ours, in bytes (long lists become several). */
const KEYS_MESSAGE_BYTES = 256 * 1024

export type BusMessage = { type: 'k'; keys: string[] } | { type: 't' } | { type: 'm'; glob: string }

/** The messages announcing that `keys` changed: one, or several when the list is long. */
export function encodeKeys(keys: readonly string[]): string[] {
  const out: string[] = []
  let part: string[] = []
  let bytes = 0
  for (const k of keys) {
    const n = k.length * 3 + 3
    if (part.length > 0 && bytes + n > KEYS_MESSAGE_BYTES) {
      out.push(JSON.stringify(['k', ...part]))
      part = []
      bytes = 0
    }
    part.push(k)
    bytes += n
  }
  if (part.length > 0) out.push(JSON.stringify(['k', ...part]))
  return out
}
/** The message announcing that one key changed. */
export function encodeKey(key: string): string {
  return JSON.stringify(['k', key])
}
export const TAGS_MESSAGE = '["t"]'
export function encodeGlob(glob: string): string {
  return JSON.stringify(['m', glob])
}

/** Parses a bus message; anything that is not exactly one of ours is `undefined` (dropped). */
export function decodeBus(payload: Buffer): BusMessage | undefined {
  if (payload.length < 5 || payload.length > MAX_BUS_MESSAGE_BYTES || payload[0] !== 0x5b) return undefined
  let v: unknown
  try {
    v = JSON.parse(payload.toString('utf8'))
  } catch {
    return undefined
  }
  if (!Array.isArray(v) || v.length === 0) return undefined
  for (const x of v) if (typeof x !== 'string') return undefined
  const items = v as string[]
  if (items[0] === 'k' && items.length > 1) {
    const keys = items.slice(1)
    return keys.every((k) => k.length > 0) ? { type: 'k', keys } : undefined
  }
  if (items[0] === 't' && items.length === 1) return { type: 't' }
  if (items[0] === 'm' && items.length === 2 && items[1].length > 0) return { type: 'm', glob: items[1] }
  return undefined
}
