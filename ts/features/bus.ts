/**
 * Messages between instances sharing a Valkey, on one pub/sub channel. Every message is a JSON
 * array: `["k", ...keys]` keys written or deleted (wakes getOrSet waiters, drops L1 entries),
 * `["t"]` tags invalidated, `["m", glob]` keys deleted by pattern.
 */
export const BUS_CHANNEL = '__ferrocache:bus'
export const BUS_MESSAGE = 0
export const BUS_SUBSCRIBED = 1
export const BUS_LOST = 2

export type BusMessage = { type: 'k'; keys: string[] } | { type: 't' } | { type: 'm'; glob: string }

export function encodeKeys(keys: readonly string[]): string {
  return JSON.stringify(['k', ...keys])
}
export const TAGS_MESSAGE = '["t"]'
export function encodeGlob(glob: string): string {
  return JSON.stringify(['m', glob])
}

/** Parses a bus message; foreign messages on the channel are ignored (undefined). */
export function decodeBus(payload: Buffer): BusMessage | undefined {
  try {
    const v = JSON.parse(payload.toString('utf8')) as unknown
    if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) return undefined
    if (v[0] === 'k') return { type: 'k', keys: v.slice(1) as string[] }
    if (v[0] === 't') return { type: 't' }
    if (v[0] === 'm' && typeof v[1] === 'string') return { type: 'm', glob: v[1] }
  } catch {
    // not ours
  }
  return undefined
}
