// ferrocache + tRPC v11: a router using cacheMiddleware, invalidateMiddleware and rateLimitMiddleware
// with superjson, served by the standalone adapter and called by @trpc/client (httpBatchLink).
//
//   npm run build && node examples/trpc/server.mjs              # memory-only
//   VALKEY_URL=redis://127.0.0.1:6379 node examples/trpc/server.mjs
//   PORT=3000 node examples/trpc/server.mjs                      # keep serving on :3000
import { createTRPCClient, httpBatchLink, TRPCClientError } from '@trpc/client'
import { initTRPC } from '@trpc/server'
import { createHTTPServer } from '@trpc/server/adapters/standalone'
import superjson from 'superjson'
import { z } from 'zod'
import { Cache, RateLimiter } from '../../dist/index.mjs'
import { cacheMiddleware, invalidateMiddleware, rateLimitMiddleware } from '../../dist/trpc.mjs'

const cache = new Cache({ url: process.env.VALKEY_URL, prefix: `example:${process.pid}:` }) // every key here expires by itself
const limiter = new RateLimiter(cache, { limit: 5, window: 10, name: 'api' })

// A fake database: one slow read we want cached.
const posts = new Map([['1', { id: '1', title: 'Hello', published: new Date('2025-01-01T00:00:00Z') }]])
let dbReads = 0
async function readPost(id) {
  dbReads++
  await new Promise((r) => setTimeout(r, 50))
  return posts.get(id) ?? null
}

const t = initTRPC.context().create({ transformer: superjson })
// Order matters: rate limiting (and auth) first, then .input(), then the cache.
const api = t.procedure.use(rateLimitMiddleware(limiter, { id: ({ ctx }) => ctx.user ?? ctx.ip }))

const router = t.router({
  post: api
    .input(z.object({ id: z.string() }))
    .use(
      cacheMiddleware(cache, {
        scope: 'public',
        ttl: 60,
        tags: ({ input }) => [`post:${input.id}`],
      }),
    )
    .query(({ input }) => readPost(input.id)),
  me: api
    .use(cacheMiddleware(cache, { scope: (ctx) => ctx.user, ttl: 30 })) // no user: not cached
    .query(({ ctx }) => ({ user: ctx.user ?? 'anonymous', at: new Date() })),
  renamePost: api
    .input(z.object({ id: z.string(), title: z.string().min(1) }))
    .use(invalidateMiddleware(cache, { tags: ({ input }) => [`post:${input.id}`] }))
    .mutation(({ input }) => {
      posts.set(input.id, { ...posts.get(input.id), title: input.title })
      return { ok: true }
    }),
})

const server = createHTTPServer({
  router,
  createContext: ({ req }) => ({ user: req.headers['x-user'] || undefined, ip: req.socket.remoteAddress }),
})
await new Promise((r) => server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', r))
const url = `http://127.0.0.1:${server.address().port}`
console.log(`tRPC on ${url} (${cache._mode === 'memory' ? 'memory-only' : process.env.VALKEY_URL})`)

if (!process.env.PORT) {
  const client = (user) =>
    createTRPCClient({ links: [httpBatchLink({ url, transformer: superjson, headers: { 'x-user': user } })] })
  const ada = client('ada')
  const [a, b] = await Promise.all([ada.post.query({ id: '1' }), ada.post.query({ id: '1' })])
  console.log('post:', a.title, a.published instanceof Date, '| same:', b.title, '| db reads:', dbReads)
  await ada.renamePost.mutate({ id: '1', title: 'Hello, again' })
  console.log('after rename:', (await ada.post.query({ id: '1' })).title, '| db reads:', dbReads)
  console.log('me:', (await client('grete').me.query()).user)
  // ada's 5th call in 10 s is admitted, the 6th is not:
  const limited = await ada.me
    .query()
    .then(() => ada.me.query())
    .catch((e) => e)
  console.log('rate limited:', limited instanceof TRPCClientError && limited.data?.code, limited.message)
  server.close()
  await cache.close()
}
