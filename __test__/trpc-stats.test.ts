/** Per-procedure stats of cacheMiddleware through a real tRPC router over HTTP, in stats() and metrics(). */
import { spawnSync } from 'node:child_process'
import type { AddressInfo } from 'node:net'
import { createTRPCClient, httpBatchLink } from '@trpc/client'
import { initTRPC } from '@trpc/server'
import { createHTTPServer } from '@trpc/server/adapters/standalone'
import superjson from 'superjson'
import { afterAll, describe, expect, inject, it } from 'vitest'
import { z } from 'zod'
import { Cache } from '../ts/index'
import { cacheMiddleware } from '../ts/trpc'
import { promtool } from '../scripts/promtool.mjs'
import { uniquePrefix } from './contract'

const t = initTRPC.create({ transformer: superjson })
const cache = new Cache({
  url: inject('valkeyUrl'),
  prefix: uniquePrefix('trpcstats'),
  name: 'api',
  logger: false,
})
const cached = t.procedure.use(cacheMiddleware(cache, { scope: 'public', ttl: 60 }))
const router = t.router({
  post: cached.input(z.object({ id: z.number() })).query(({ input }) => ({ id: input.id, at: new Date(0) })),
  user: t.router({ byId: cached.input(z.number()).query(({ input }) => ({ id: input })) }),
  many: cached.input(z.string()).query(({ input }) => input),
})
const server = createHTTPServer({ router })
afterAll(async () => {
  server.close()
  await cache.close()
})

describe('tRPC per-procedure stats', () => {
  it('hits, misses and load time per procedure path in stats() and metrics()', async () => {
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
    const client = createTRPCClient<typeof router>({
      links: [httpBatchLink({ url, transformer: superjson })],
    })
    for (let i = 0; i < 3; i++) await client.post.query({ id: 1 }) // 1 miss, 2 hits
    await client.post.query({ id: 2 }) // miss
    await client.user.byId.query(7) // miss
    await client.user.byId.query(7) // hit
    const p = cache.stats().procedures
    expect(p?.post).toMatchObject({ hits: 2, misses: 2, loads: 2, staleServed: 0 })
    expect(p?.['user.byId']).toMatchObject({ hits: 1, misses: 1, loads: 1 })
    expect(p?.post.loadSeconds).toBeGreaterThan(0)

    const text = await cache.metrics()
    expect(text).toMatch(/^ferrocache_trpc_hits_total\{cache="api",prefix="[^"]+",procedure="post"\} 2$/m)
    expect(text).toMatch(
      /^ferrocache_trpc_misses_total\{cache="api",prefix="[^"]+",procedure="user.byId"\} 1$/m,
    )
    const check = spawnSync(promtool(), ['check', 'metrics'], { input: text, encoding: 'utf8' })
    expect(`${check.stdout}${check.stderr}`.trim()).toBe('')
    expect(check.status).toBe(0)
  })

  it('label cardinality is bounded: at most 200 paths, the rest under __other__', async () => {
    const c = new Cache({ logger: false })
    try {
      for (let i = 0; i < 250; i++) c._procedure(`p${i}`).hits++
      const p = c.stats().procedures ?? {}
      expect(Object.keys(p)).toHaveLength(201)
      expect(p.__other__.hits).toBe(50)
    } finally {
      await c.close()
    }
  })
})
