/** Tag names → marker keys. Markers live under the cache's root prefix, so namespaces share tags. */
import { InvalidOptionError } from '../core/errors'
import { checkWellFormed } from '../core/keys'

export const MAX_TAGS = 64
const MAX_TAG_LENGTH = 512

/** Validates tags and returns their marker keys (deduplicated). */
export function markerKeys(rootPrefix: string, tags: unknown, what = 'tags', max = MAX_TAGS): string[] {
  if (!Array.isArray(tags)) throw new InvalidOptionError(`\`${what}\` must be an array of strings`)
  if (tags.length > max) throw new InvalidOptionError(`\`${what}\` takes at most ${max} tags`)
  const out: string[] = []
  for (const t of tags) {
    if (typeof t !== 'string' || t === '' || t.length > MAX_TAG_LENGTH) {
      throw new InvalidOptionError(
        `\`${what}\` must hold non-empty strings of at most ${MAX_TAG_LENGTH} characters`,
      )
    }
    checkWellFormed(what, t)
    const key = `${rootPrefix}\u0000tag:${t}`
    if (!out.includes(key)) out.push(key)
  }
  return out
}
