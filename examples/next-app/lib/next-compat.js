// The few Next.js cache APIs whose names or arguments differ between Next 15 and 16.
import * as nextCache from 'next/cache'

/** `cacheTag` (16) / `unstable_cacheTag` (15). */
export const cacheTag = nextCache.cacheTag ?? nextCache.unstable_cacheTag

/** Expires a tag at once: Next 16 wants a profile (`{ expire: 0 }` = now); Next 15 takes the tag alone. */
export function expireTag(tag) {
  nextCache.revalidateTag(tag, { expire: 0 })
}

/** In a Server Action: `updateTag` on 16 (the action's own response already shows fresh data). */
export function expireTagInAction(tag) {
  if (typeof nextCache.updateTag === 'function') nextCache.updateTag(tag)
  else nextCache.revalidateTag(tag)
}
