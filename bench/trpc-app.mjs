// The tRPC application the tRPC benchmarks serve (over HTTP in bench/trpc.mjs, in process through
// createCaller): one router per variant, all answering `report({ id })` with the same value.
//   ferrocache          cacheMiddleware on a Cache (L2 only)
//   ferrocache (l1)     the same with the in-process tier on
//   ioredis             the usual hand-written middleware: JSON key, GET + superjson.parse, run + SET
//   ceiling (no cache)  not a peer: answers from prebuilt values, i.e. a cache that cost nothing
// Diagnostic variants (`extra`): 'ferrocache (ioPollUs 0)' (the I/O thread never polls after a
// batch), 'ferrocache (directSocket off)' (every read through the I/O thread), 'ceiling (async
// answer)' (the ceiling behind a setImmediate: what answering asynchronously, as a network cache
// does, changes on this HTTP stack by itself), and
// 'ferrocache (l1 + async answer)' (the l1 variant's answer handed on after a setImmediate).
export const INPUTS = 100
export const CEILING = 'ceiling (no cache)'
export const L1_VARIANT = 'ferrocache (l1)'
export const NO_POLL_VARIANT = 'ferrocache (ioPollUs 0)'
export const IO_THREAD_VARIANT = 'ferrocache (directSocket off)'
export const ASYNC_CEILING = 'ceiling (async answer)'
export const ASYNC_L1 = 'ferrocache (l1 + async answer)'

/** One report: Dates and Maps, so the value goes through superjson / the V8 codec, not plain JSON. */
export function report(id) {
  return {
    id,
    title: `report ${id}`,
    createdAt: new Date(Date.UTC(2025, 0, 1 + (id % 28))),
    totals: new Map(Array.from({ length: 8 }, (_, i) => [`k${i}`, i * id])),
    rows: Array.from({ length: 10 }, (_, i) => ({
      i,
      label: `row ${i} of ${id}`,
      at: new Date(i * 1e9),
      ok: i % 2 === 0,
    })),
  }
}

/**
 * Builds the routers. `url`: the Valkey. `extra`: names of diagnostic variants to add.
 * Returns { t, superjson, routers: { name: router }, ready(): Promise, close(): Promise }.
 */
export async function makeRouters(url, extra = []) {
  const { initTRPC } = await import('@trpc/server')
  const { default: superjson } = await import('superjson')
  const { Redis } = await import('ioredis')
  const { Cache } = await import('../dist/index.mjs')
  const { cacheMiddleware } = await import('../dist/trpc.mjs')
  const tag = `${process.pid}-${Math.random().toString(36).slice(2, 8)}`
  const caches = {
    ferrocache: new Cache({ url, prefix: `bench-trpc:${tag}:` }),
    [L1_VARIANT]: new Cache({ url, prefix: `bench-trpc-l1:${tag}:`, l1: { maxEntries: 10_000 } }),
  }
  if (extra.includes(NO_POLL_VARIANT))
    caches[NO_POLL_VARIANT] = new Cache({ url, prefix: `bench-trpc-np:${tag}:`, ioPollUs: 0 })
  if (extra.includes(IO_THREAD_VARIANT))
    caches[IO_THREAD_VARIANT] = new Cache({ url, prefix: `bench-trpc-io:${tag}:`, directSocket: false })
  const redis = new Redis(url, { maxRetriesPerRequest: 1 })
  const t = initTRPC.create({ transformer: superjson })
  // Answering without next() needs the same `{ ok, data, marker }` shape cacheMiddleware uses.
  const byHand = t.middleware(async ({ path, type, getRawInput, next }) => {
    if (type !== 'query') return next()
    const key = `bench-trpc-hand:${tag}:${path}:${JSON.stringify(await getRawInput())}`
    const hit = await redis.get(key)
    if (hit !== null) return { ok: true, data: superjson.parse(hit), marker: 'middlewareMarker' }
    const r = await next()
    if (r.ok) await redis.set(key, superjson.stringify(r.data), 'PX', 300_000)
    return r
  })
  // The gap between the ceiling and the others is all a cache middleware can ever win on this path.
  const prebuilt = new Map(Array.from({ length: INPUTS }, (_, id) => [id, report(id)]))
  const ceiling = t.middleware(async ({ getRawInput }) => {
    const { id } = await getRawInput()
    return { ok: true, data: prebuilt.get(id), marker: 'middlewareMarker' }
  })
  const input = (v) => v // no validator: all variants see the same raw input
  const routerOf = (mw) =>
    t.router({
      report: t.procedure
        .input(input)
        .use(mw)
        .query(({ input }) => report(input.id)),
    })
  const routers = {}
  for (const [name, cache] of Object.entries(caches))
    routers[name] = routerOf(cacheMiddleware(cache, { scope: 'public', ttl: 300 }))
  if (extra.includes(ASYNC_L1)) {
    const l1 = cacheMiddleware(caches[L1_VARIANT], { scope: 'public', ttl: 300 })
    routers[ASYNC_L1] = routerOf(async (opts) => {
      const r = await l1(opts)
      await new Promise((resolve) => setImmediate(resolve))
      return r
    })
  }
  routers.ioredis = routerOf(byHand)
  routers[CEILING] = routerOf(ceiling)
  if (extra.includes(ASYNC_CEILING)) {
    const later = t.middleware(async ({ getRawInput }) => {
      const { id } = await getRawInput()
      await new Promise((r) => setImmediate(r))
      return { ok: true, data: prebuilt.get(id), marker: 'middlewareMarker' }
    })
    routers[ASYNC_CEILING] = routerOf(later)
  }
  return {
    t,
    superjson,
    routers,
    caches,
    /** Until the L1 tier is on (its bus subscribed). */
    async ready() {
      for (const c of Object.values(caches)) for (let i = 0; i < 50 && !(await c.health()).ok; i++) await null
      await new Promise((r) => setTimeout(r, 100))
    },
    async close() {
      await Promise.all(Object.values(caches).map((c) => c.close()))
      redis.disconnect()
    },
  }
}
