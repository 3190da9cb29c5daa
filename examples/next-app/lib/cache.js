// The app's own cache: the same prefix as the Next handlers ('next:' by default), so
// `revalidateTag('posts')` also drops the tRPC entries tagged 'posts', and
// `cache.invalidateTags(['posts'])` also makes Next's pages, fetches and 'use cache' entries stale.
import { Cache } from 'ferrocache'

const g = globalThis
// One engine per process, also across `next dev` reloads (modules re-run, globalThis stays).
export const cache = (g.__appCache ??= new Cache({
  url: process.env.FERROCACHE_URL || process.env.VALKEY_URL,
  prefix: process.env.FERROCACHE_PREFIX ?? 'next:',
}))
