import { initTRPC } from '@trpc/server'
import { cacheMiddleware, invalidateMiddleware } from 'ferrocache/trpc'
import { cache } from './cache'
import { loadPosts } from './data'

const t = initTRPC.create()

export const appRouter = t.router({
  // Cached in Valkey, tagged 'posts': revalidateTag('posts') in a Server Action drops it too.
  posts: t.procedure
    .use(cacheMiddleware(cache, { scope: 'public', ttl: 3600, tags: () => ['posts'] }))
    .query(async () => ({ posts: await loadPosts(), at: Math.random().toString(36).slice(2, 10) })),
  // A mutation that invalidates 'posts' — Next's pages and 'use cache' entries tagged 'posts' too.
  touchPosts: t.procedure
    .use(invalidateMiddleware(cache, { tags: () => ['posts'], onError: () => {} }))
    .mutation(() => ({ ok: true })),
})
