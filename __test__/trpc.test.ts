/** ferrocache/trpc on a real Valkey and real tRPC v11: createCaller and HTTP (superjson, httpBatchLink). */
import type { AddressInfo } from 'node:net'
import { createTRPCClient, httpBatchLink, TRPCClientError } from '@trpc/client'
import { initTRPC, TRPCError } from '@trpc/server'
import { createHTTPServer } from '@trpc/server/adapters/standalone'
import superjson from 'superjson'
import { afterAll, describe, expect, inject, it, vi } from 'vitest'
import { z } from 'zod'
import { Cache } from '../ts/index'
import { cacheMiddleware, hashInput, invalidateMiddleware, trpcStats } from '../ts/trpc'
import { uniquePrefix } from './contract'

type Ctx = { user?: string }
const t = initTRPC.context<Ctx>().create({ transformer: superjson })

const open: { close(): unknown }[] = []
afterAll(async () => {
  await Promise.all(open.map((c) => c.close()))
})

function makeCache(): Cache {
  const cache = new Cache({ url: inject('valkeyUrl'), prefix: uniquePrefix('trpc') })
  open.push(cache)
  return cache
}

const report = (id: number) => ({
  id,
  at: new Date(Date.UTC(2024, 1, 29, 12)),
  scores: new Map<string, number>([
    ['a', 1],
    ['b', 2],
  ]),
  labels: new Set(['x', 'y']),
  big: 12345678901234567890n,
  nested: { when: [new Date(0)], nothing: null, missing: undefined as undefined },
})

function build(cache: Cache) {
  const runs = { report: 0, mine: 0, echo: 0, flaky: 0, bump: 0, item: 0, rename: 0 }
  let flakyFails = true
  const items = new Map<number, string>([[1, 'one']])
  const pub = t.procedure.use(cacheMiddleware(cache, { scope: 'public', ttl: 60 }))
  const perUser = t.procedure.use(cacheMiddleware<Ctx>(cache, { scope: (ctx) => ctx.user, ttl: 60 }))
  const router = t.router({
    report: pub.input(z.object({ id: z.number() })).query(({ input }) => {
      runs.report++
      return report(input.id)
    }),
    reportUncached: t.procedure.input(z.object({ id: z.number() })).query(({ input }) => report(input.id)),
    mine: perUser.query(({ ctx }) => {
      runs.mine++
      return { user: ctx.user, secret: `secret of ${ctx.user}` }
    }),
    echo: pub.input(z.unknown()).query(() => ({ run: ++runs.echo })),
    flaky: pub.query(() => {
      runs.flaky++
      if (flakyFails) throw new TRPCError({ code: 'SERVICE_UNAVAILABLE', message: 'db down' })
      return { ok: true }
    }),
    bump: pub.mutation(() => ++runs.bump),
    item: t.procedure
      .input(z.object({ id: z.number() }))
      .use(
        cacheMiddleware(cache, {
          scope: 'public',
          tags: ({ input }) => [`item:${(input as { id: number }).id}`],
        }),
      )
      .query(({ input }) => {
        runs.item++
        return { name: items.get(input.id) }
      }),
    rename: t.procedure
      .input(z.object({ id: z.number(), name: z.string() }))
      .use(invalidateMiddleware(cache, { tags: ({ input }) => [`item:${(input as { id: number }).id}`] }))
      .mutation(({ input }) => {
        runs.rename++
        if (input.name === '') throw new TRPCError({ code: 'BAD_REQUEST', message: 'empty name' })
        items.set(input.id, input.name)
        return { renamed: true }
      }),
  })
  return {
    router,
    runs,
    heal: () => (flakyFails = false),
    caller: (ctx: Ctx = {}) => t.createCallerFactory(router)(ctx),
  }
}

type AppRouter = ReturnType<typeof build>['router']

async function serve(router: AppRouter) {
  const server = createHTTPServer({
    router,
    createContext: ({ req }) => ({ user: (req.headers['x-user'] as string | undefined) || undefined }),
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  open.push({ close: () => new Promise((r) => server.close(r)) })
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  return (user?: string) =>
    createTRPCClient<AppRouter>({
      links: [
        httpBatchLink({ url, transformer: superjson, headers: () => (user ? { 'x-user': user } : {}) }),
      ],
    })
}

describe('cacheMiddleware', () => {
  it('requires a scope (E_INVALID_OPTION at creation) and validates its options', () => {
    const cache = makeCache()
    expect(() => cacheMiddleware(cache, {} as never)).toThrow(
      expect.objectContaining({ code: 'E_INVALID_OPTION' }),
    )
    expect(() => cacheMiddleware(cache, { scope: 'everyone' } as never)).toThrow(/scope/)
    expect(() => cacheMiddleware(cache, { scope: 'public', ttl: -1 })).toThrow(/ttl/)
  })

  it('createCaller: N calls run the resolver once; values deep-equal the uncached ones, types intact', async () => {
    const app = build(makeCache())
    const caller = app.caller()
    const expected = await caller.reportUncached({ id: 1 })
    const first = await Promise.all(Array.from({ length: 20 }, () => caller.report({ id: 1 })))
    const later = await caller.report({ id: 1 })
    expect(app.runs.report).toBe(1)
    for (const v of [...first, later]) {
      expect(v).toStrictEqual(expected)
      expect(v.at).toBeInstanceOf(Date)
      expect(v.scores).toBeInstanceOf(Map)
      expect(v.labels).toBeInstanceOf(Set)
      expect(typeof v.big).toBe('bigint')
    }
    expect(later.scores.get('b')).toBe(2)
    await caller.report({ id: 2 })
    expect(app.runs.report).toBe(2)
  })

  it('HTTP (superjson, httpBatchLink): cached values equal uncached ones, Dates/Maps intact', async () => {
    const app = build(makeCache())
    const client = (await serve(app.router))()
    const expected = await client.reportUncached.query({ id: 7 })
    expect(expected.at).toBeInstanceOf(Date)
    const batch = await Promise.all(Array.from({ length: 10 }, () => client.report.query({ id: 7 })))
    const again = await client.report.query({ id: 7 })
    expect(app.runs.report).toBe(1)
    for (const v of [...batch, again]) {
      expect(v).toStrictEqual(expected)
      expect(v.scores).toBeInstanceOf(Map)
    }
    // The same entry serves createCaller: the key does not depend on the transport.
    expect(await app.caller().report({ id: 7 })).toStrictEqual(expected)
    expect(app.runs.report).toBe(1)
  })

  it('scope functions: two users never see each other’s data', async () => {
    const app = build(makeCache())
    const client = await serve(app.router)
    for (let round = 0; round < 2; round++) {
      expect(await app.caller({ user: 'alice' }).mine()).toEqual({ user: 'alice', secret: 'secret of alice' })
      expect(await app.caller({ user: 'bob' }).mine()).toEqual({ user: 'bob', secret: 'secret of bob' })
      expect(await client('alice').mine.query()).toEqual({ user: 'alice', secret: 'secret of alice' })
      expect(await client('bob').mine.query()).toEqual({ user: 'bob', secret: 'secret of bob' })
    }
    expect(app.runs.mine).toBe(2)
  })

  it('a scope function returning nothing bypasses the cache', async () => {
    const app = build(makeCache())
    const client = (await serve(app.router))()
    for (let i = 0; i < 3; i++)
      expect(await app.caller({}).mine()).toEqual({ user: undefined, secret: 'secret of undefined' })
    await client.mine.query()
    expect(app.runs.mine).toBe(4)
    await app.caller({ user: '' }).mine()
    expect(app.runs.mine).toBe(5)
  })

  it('mutations pass through uncached', async () => {
    const app = build(makeCache())
    const client = (await serve(app.router))()
    expect(await app.caller().bump()).toBe(1)
    expect(await app.caller().bump()).toBe(2)
    expect(await client.bump.mutate()).toBe(3)
    expect(app.runs.bump).toBe(3)
  })

  it('a failing resolver is not cached: the next call runs it again', async () => {
    const app = build(makeCache())
    const client = (await serve(app.router))()
    await expect(app.caller().flaky()).rejects.toMatchObject({ code: 'SERVICE_UNAVAILABLE' })
    const err = await client.flaky.query().catch((e: unknown) => e)
    expect(err).toBeInstanceOf(TRPCClientError)
    expect((err as TRPCClientError<typeof app.router>).data?.code).toBe('SERVICE_UNAVAILABLE')
    expect(app.runs.flaky).toBe(2)
    app.heal()
    expect(await app.caller().flaky()).toEqual({ ok: true })
    expect(await client.flaky.query()).toEqual({ ok: true })
    expect(app.runs.flaky).toBe(3)
  })

  it('input hashing is key-order independent and value-based for Dates, Maps, Sets, BigInts', async () => {
    const app = build(makeCache())
    const caller = app.caller()
    const client = (await serve(app.router))()
    const a = await caller.echo({ a: 1, b: 2 })
    expect(await caller.echo({ b: 2, a: 1 })).toEqual(a)
    expect(await client.echo.query({ b: 2, a: 1 })).toEqual(a)
    expect(app.runs.echo).toBe(1)
    const d1 = await caller.echo({ at: new Date(1) })
    const d2 = await caller.echo({ at: new Date(2) })
    expect(d2).not.toEqual(d1)
    expect(await client.echo.query({ at: new Date(2) })).toEqual(d2)
    expect(app.runs.echo).toBe(3)
    const m = await caller.echo(
      new Map([
        ['x', 1],
        ['y', 2],
      ]),
    )
    expect(
      await caller.echo(
        new Map([
          ['y', 2],
          ['x', 1],
        ]),
      ),
    ).toEqual(m)
    expect(await caller.echo(new Set([1n, 2n]))).not.toEqual(await caller.echo(new Set([1n, 3n])))
    expect(app.runs.echo).toBe(6)
  })
})

describe('hashInput', () => {
  it('is stable, order independent, and tells values apart', () => {
    expect(hashInput({ a: 1, b: { c: [1, 2] } })).toBe(hashInput({ b: { c: [1, 2] }, a: 1 }))
    expect(hashInput({ a: 1, u: undefined })).toBe(hashInput({ a: 1 }))
    expect(hashInput(new Set([1, 2]))).toBe(hashInput(new Set([2, 1])))
    const distinct = [
      undefined,
      null,
      0,
      -0,
      '0',
      0n,
      false,
      [],
      {},
      [1, 2],
      [2, 1],
      ['1,2'],
      new Date(0),
      new Date(1),
      new Map(),
      new Set(),
      new Map([[1, 2]]),
      new Map([[2, 1]]),
      { a: 'b' },
      { ab: '' },
      new Uint8Array([1]),
      /a/g,
      'a',
    ]
    expect(new Set(distinct.map(hashInput)).size).toBe(distinct.length)
    const cyclic: Record<string, unknown> = {}
    cyclic.self = cyclic
    expect(hashInput(cyclic)).toBeUndefined()
    expect(hashInput({ f: () => 1 })).toBeUndefined()
  })

  it('keeps the keys of earlier releases (pinned digests), remembered or not', () => {
    // Short canonical texts are remembered, long ones hashed every time: both give the same digests.
    for (let i = 0; i < 3; i++) {
      expect(hashInput({ id: 42 })).toBe('0WGp26CrbbwtuCnU56w_cNeAg8Exc3Cg1FpyKNyDhtQ')
      expect(hashInput({ q: 'x'.repeat(300), page: 2 })).toBe('Kh1vSw-mgnuchBgywAPWmzESzeK4j4wEAWi46C_TUSw')
    }
    // More distinct inputs than are remembered: still one digest per input.
    const many = Array.from({ length: 1500 }, (_, i) => hashInput({ id: i }))
    expect(new Set(many).size).toBe(1500)
    expect(hashInput({ id: 42 })).toBe('0WGp26CrbbwtuCnU56w_cNeAg8Exc3Cg1FpyKNyDhtQ')
  })
})

describe('invalidateMiddleware wiring', () => {
  it('calls invalidateTags with the computed tags after a successful mutation, never after a failure', async () => {
    const cache = makeCache()
    const spy = vi.spyOn(cache, 'invalidateTags').mockResolvedValue(undefined)
    const app = build(cache)
    const client = (await serve(app.router))()
    expect(await client.rename.mutate({ id: 1, name: 'uno' })).toEqual({ renamed: true })
    expect(spy).toHaveBeenCalledTimes(1)
    expect(spy).toHaveBeenCalledWith(['item:1'])
    await expect(app.caller().rename({ id: 1, name: '' })).rejects.toMatchObject({ code: 'BAD_REQUEST' })
    expect(app.runs.rename).toBe(2)
    expect(spy).toHaveBeenCalledTimes(1)
    expect(() => invalidateMiddleware(cache, {} as never)).toThrow(/tags/)
  })

  it('Valkey down: the mutation result still reaches the client, the failure is retried, counted, not leaked', async () => {
    const down = new Cache({ url: 'redis://127.0.0.1:1', commandTimeoutMs: 200, prefix: 'trpc-down:' })
    const calls = vi.spyOn(down, 'invalidateTags')
    const seen: unknown[] = []
    const base = t.procedure.input(z.object({ id: z.number() }))
    const router = t.router({
      plain: base.use(invalidateMiddleware(down, { tags: () => ['x'] })).mutation(() => 'done'),
      withHook: base
        .use(invalidateMiddleware(down, { tags: () => ['x'], onError: (e) => seen.push(e) }))
        .mutation(() => 'done'),
    })
    const before = trpcStats().invalidationsDropped
    const client = (await serve(router as unknown as AppRouter))() as unknown as {
      plain: { mutate(input: { id: number }): Promise<string> }
    }
    // Over HTTP, as a browser would call it: a result, not a 500 with "cannot reach Valkey".
    expect(await client.plain.mutate({ id: 1 })).toBe('done')
    expect(calls.mock.calls.length).toBeGreaterThan(1) // retried
    expect(await t.createCallerFactory(router)({}).withHook({ id: 1 })).toBe('done')
    expect(seen).toHaveLength(1)
    expect(trpcStats().invalidationsDropped).toBe(before + 2)
    await down.close()
  })
})

describe('invalidation', () => {
  it('a mutation with invalidateMiddleware makes the next query reload', async () => {
    const app = build(makeCache())
    const client = (await serve(app.router))()
    expect(await client.item.query({ id: 1 })).toEqual({ name: 'one' })
    expect(await app.caller().item({ id: 1 })).toEqual({ name: 'one' })
    expect(app.runs.item).toBe(1)
    await client.rename.mutate({ id: 1, name: 'uno' })
    expect(await client.item.query({ id: 1 })).toEqual({ name: 'uno' })
    expect(app.runs.item).toBe(2)
  })

  it('a failing mutation invalidates nothing', async () => {
    const cache = makeCache()
    const app = build(cache)
    expect(await app.caller().item({ id: 1 })).toEqual({ name: 'one' })
    await expect(app.caller().rename({ id: 1, name: '' })).rejects.toMatchObject({ code: 'BAD_REQUEST' })
    expect(await app.caller().item({ id: 1 })).toEqual({ name: 'one' })
    expect(app.runs.item).toBe(1)
    expect(app.runs.rename).toBe(1)
  })
})
