/**
 * Tag names → marker keys. Markers live under the cache's root prefix, so namespaces share tags.
 * Marker and lease keys are internal keys: after the prefix they hold a 0xFF byte, which no UTF-8
 * text (every user key) can contain — so no user key can be a marker or a lease (see
 * src/store/keyspace.rs and docs/tags.md).
 */
import { InvalidOptionError } from '../core/errors'
import { checkWellFormed } from '../core/keys'

/** Starts the internal part of an internal key (the engine's `keyspace::INTERNAL`). */
const INTERNAL = 0xff
const TAG_PART = Buffer.from([INTERNAL, ...Buffer.from('tag:', 'latin1')])
const LOCK_PART = Buffer.from([INTERNAL, ...Buffer.from('fc-lock', 'latin1')])

/** Recently built marker keys (never mutated: the frame copies them), so hot tags cost no allocation. */
const recent = new Map<string, Buffer>()
const RECENT_MAX = 4096

function markerKey(rootPrefix: string, tag: string): Buffer {
  const id = `${rootPrefix}\u0000${tag}`
  let key = recent.get(id)
  if (key === undefined) {
    if (recent.size >= RECENT_MAX) recent.clear()
    key = Buffer.concat([Buffer.from(rootPrefix, 'utf8'), TAG_PART, Buffer.from(tag, 'utf8')])
    recent.set(id, key)
  }
  return key
}

export const MAX_TAGS = 64
const MAX_TAG_LENGTH = 512

/** Validates tags and returns their marker keys (deduplicated). */
export function markerKeys(rootPrefix: string, tags: unknown, what = 'tags', max = MAX_TAGS): Buffer[] {
  if (!Array.isArray(tags)) throw new InvalidOptionError(`\`${what}\` must be an array of strings`)
  if (tags.length > max) throw new InvalidOptionError(`\`${what}\` takes at most ${max} tags`)
  const out: Buffer[] = []
  const seen = new Set<string>()
  for (const t of tags) {
    if (typeof t !== 'string' || t === '' || t.length > MAX_TAG_LENGTH) {
      throw new InvalidOptionError(
        `\`${what}\` must hold non-empty strings of at most ${MAX_TAG_LENGTH} characters`,
      )
    }
    checkWellFormed(what, t)
    const key = markerKey(rootPrefix, t)
    if (!seen.has(t)) {
      seen.add(t)
      out.push(key)
    }
  }
  return out
}

/**
 * The lease lock of a key, in the same cluster slot as the key (so a cluster keeps the lock and
 * the value in order, like a single node does): a key with a hash tag keeps it; otherwise the
 * whole key becomes the lock's hash tag. An internal key: no user key can take a lease's place.
 */
export function lockKeyOf(key: string): Buffer {
  const open = key.indexOf('{')
  const close = open >= 0 ? key.indexOf('}', open + 1) : -1
  const base = close > open + 1 ? key : `{${key}}`
  return Buffer.concat([Buffer.from(base, 'utf8'), LOCK_PART])
}
