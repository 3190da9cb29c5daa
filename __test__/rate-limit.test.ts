/** RateLimiter on a real Valkey and in memory mode, and rateLimitMiddleware over HTTP. */
import type { AddressInfo } from 'node:net'
import { createTRPCClient, httpBatchLink, TRPCClientError } from '@trpc/client'
import { initTRPC } from '@trpc/server'
import { createHTTPServer } from '@trpc/server/adapters/standalone'
import superjson from 'superjson'
import { afterAll, afterEach, describe, expect, inject, it, vi } from 'vitest'
import { valkeyCommand } from '../scripts/valkey.mjs'
import { Cache, RateLimitedError, RateLimiter, type CacheOptions, type RateLimitAlgorithm } from '../ts/index'
import { keySlot } from '../ts/boundary/binding'
import { rateLimitMiddleware } from '../ts/trpc'
import { clusterNodes } from './cluster-nodes'
import { rejection, uniquePrefix } from './contract'

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
/** Waits when a window boundary (aligned to epoch multiples of `windowMs`) is less than 300 ms away. */
async function awayFromEdge(windowMs: number): Promise<void> {
  const left = windowMs - (Date.now() % windowMs)
  if (left < 300) await sleep(left + 20)
}
const ALGORITHMS: RateLimitAlgorithm[] = ['sliding-window', 'fixed-window', 'token-bucket']
const open: { close(): unknown }[] = []
afterAll(async () => {
  await Promise.all(open.map((c) => c.close()))
})
afterEach(() => {
  vi.restoreAllMocks()
})

function makeCache(options: CacheOptions): Cache {
  const cache = new Cache({ prefix: uniquePrefix('rl'), ...options })
  open.push(cache)
  return cache
}

const modes: [string, () => CacheOptions][] = [
  ['valkey', () => ({ url: inject('valkeyUrl') })],
  ['cluster', () => ({ nodes: clusterNodes() })],
  ['memory', () => ({})],
]

for (const [mode, base] of modes) {
  describe(`RateLimiter (${mode})`, () => {
    for (const algorithm of ALGORITHMS) {
      it(`${algorithm}: 50 concurrent calls with limit 10 admit exactly 10`, async () => {
        const limiter = new RateLimiter(makeCache(base()), { limit: 10, window: 60, algorithm })
        await awayFromEdge(60_000)
        const before = Date.now()
        const results = await Promise.all(Array.from({ length: 50 }, () => limiter.limit('user-1')))
        const ok = results.filter((r) => r.success)
        expect(ok).toHaveLength(10)
        expect(ok.map((r) => r.remaining).sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
        for (const r of results) {
          expect(r.limit).toBe(10)
          expect(r.reset).toBeGreaterThanOrEqual(before - 1000)
          if (!r.success) expect(r.remaining).toBe(0)
        }
        expect(limiter.stats()).toEqual({ allowed: 10, denied: 40, failedOpen: 0, failedClosed: 0 })
        // Another identifier has its own budget.
        expect((await limiter.limit('user-2')).success).toBe(true)
      })
    }

    for (const algorithm of ['fixed-window', 'sliding-window'] as const) {
      it(`${algorithm}: a denied caller that waits until \`reset\` is admitted again (1 s window)`, async () => {
        const limiter = new RateLimiter(makeCache(base()), { limit: 3, window: 1, algorithm })
        await awayFromEdge(1000)
        for (let i = 0; i < 3; i++) expect((await limiter.limit('w')).success).toBe(true)
        const denied = await limiter.limit('w')
        expect(denied.success).toBe(false)
        expect(denied.reset).toBeGreaterThan(Date.now() - 50)
        expect(denied.reset).toBeLessThanOrEqual(Date.now() + 2100)
        await sleep(Math.max(0, denied.reset - Date.now()) + 40)
        expect((await limiter.limit('w')).success).toBe(true)
        await sleep(2100) // two idle windows: the whole limit is back
        const again = await Promise.all([1, 2, 3, 4].map(() => limiter.limit('w')))
        expect(again.map((r) => r.success)).toEqual([true, true, true, false])
      })
    }

    it('token-bucket: refills one token per window/limit, up to the capacity', async () => {
      const limiter = new RateLimiter(makeCache(base()), { limit: 5, window: 2, algorithm: 'token-bucket' })
      const burst = await Promise.all(Array.from({ length: 6 }, () => limiter.limit('b')))
      expect(burst.filter((r) => r.success)).toHaveLength(5)
      const denied = burst.find((r) => !r.success)!
      expect(denied.reset - Date.now()).toBeLessThanOrEqual(400) // next token in ≤ 2 s / 5
      await sleep(Math.max(0, denied.reset - Date.now()) + 50)
      expect((await limiter.limit('b')).success).toBe(true) // one token came back…
      expect((await limiter.limit('b')).success).toBe(false) // …only one
      await sleep(2100)
      const full = await Promise.all(Array.from({ length: 6 }, () => limiter.limit('b')))
      expect(full.map((r) => r.success)).toEqual([true, true, true, true, true, false])
    })

    it('many ids in one turn: each id keeps its own exact count, in one batch per slot', async () => {
      const cache = makeCache(base())
      const limiter = new RateLimiter(cache, { limit: 3, window: 60, algorithm: 'fixed-window' })
      await awayFromEdge(60_000)
      const command = vi.spyOn(cache, '_command')
      // 40 ids (spread over many cluster slots) × 5 calls each, interleaved, all in one turn.
      const ids = Array.from({ length: 200 }, (_, i) => `id-${i % 40}`)
      const results = await Promise.all(ids.map((id) => limiter.limit(id)))
      const admitted = new Map<string, number>()
      results.forEach((r, i) => r.success && admitted.set(ids[i], (admitted.get(ids[i]) ?? 0) + 1))
      expect([...admitted.values()]).toEqual(Array(40).fill(3))
      // Calls of one id are counted in call order: its first three are the admitted ones.
      results.forEach((r, i) => expect(r.success).toBe(i < 120))
      if (mode === 'memory') expect(command).not.toHaveBeenCalled()
      else if (mode === 'valkey') {
        // 200 calls, one script call per 64 keys (and the EVAL that loads the script, if needed).
        const scripts = command.mock.calls.filter(([, args]) => args[0] === 'EVALSHA')
        expect(scripts.map(([, args]) => Number(args[2]))).toEqual([64, 64, 64, 8])
      } else {
        // One batch per hash slot: never two slots in one script (Valkey would refuse: CROSSSLOT).
        for (const [, args] of command.mock.calls) {
          const keys = args.slice(3, 3 + Number(args[2])).map(String)
          expect(new Set(keys.map((k) => keySlot(k))).size).toBe(1)
        }
        expect(command.mock.calls.length).toBeLessThan(200)
      }
    })

    it('validates options and ids', async () => {
      const cache = makeCache(base())
      for (const bad of [
        { limit: 0, window: 1 },
        { limit: 1.5, window: 1 },
        { limit: 1, window: 0 },
        { limit: 1, window: 1, algorithm: 'leaky' },
        { limit: 1, window: 1, failOpen: 'yes' },
        { limit: 1, window: 1, windowMs: 5 },
        {},
      ]) {
        expect(() => new RateLimiter(cache, bad as never)).toThrow(
          expect.objectContaining({ code: 'E_INVALID_OPTION' }),
        )
      }
      const limiter = new RateLimiter(cache, { limit: 1, window: 1 })
      expect((await rejection(limiter.limit(''))).code).toBe('E_INVALID_KEY')
      // An oversized id fails alone, not the calls that share its batch.
      const [big, fine] = await Promise.allSettled([limiter.limit('x'.repeat(5000)), limiter.limit('fine')])
      expect(big.status === 'rejected' && (big.reason as { code?: string }).code).toBe('E_INVALID_KEY')
      expect(fine.status === 'fulfilled' && fine.value.success).toBe(true)
    })
  })
}

describe('RateLimiter details', () => {
  it('keys live under the cache prefix with a TTL', async () => {
    const url = inject('valkeyUrl')
    const cache = makeCache({ url })
    for (const algorithm of ALGORITHMS) {
      await new RateLimiter(cache, { limit: 5, window: 30, algorithm }).limit('ttl-check')
      const pttl = Number(await valkeyCommand(url, 'PTTL', `${cache.prefix}ratelimit:${algorithm}:ttl-check`))
      expect(pttl).toBeGreaterThan(0)
      expect(pttl).toBeLessThanOrEqual(60_000)
    }
    const named = new RateLimiter(cache, { limit: 1, window: 30, name: 'login' })
    expect((await named.limit('ttl-check')).success).toBe(true) // separate from the unnamed limiter
    expect(
      Number(await valkeyCommand(url, 'EXISTS', `${cache.prefix}ratelimit:sliding-window:login:ttl-check`)),
    ).toBe(1)
  })

  it('sliding-window weights the previous window (memory mode, controlled clock)', async () => {
    const limiter = new RateLimiter(makeCache({}), { limit: 10, window: 1 })
    const t0 = Math.floor(Date.now() / 1000) * 1000 + 10_000
    const now = vi.spyOn(Date, 'now').mockReturnValue(t0 + 100)
    for (let i = 0; i < 10; i++) expect((await limiter.limit('s')).success).toBe(true)
    now.mockReturnValue(t0 + 1500) // half of the previous window still counts: 10 × 0.5 = 5 used
    const r = await Promise.all(Array.from({ length: 6 }, () => limiter.limit('s')))
    expect(r.map((x) => x.success)).toEqual([true, true, true, true, true, false])
    expect(r[0].remaining).toBe(4)
    // Denied at 5 + 5 = 10; one more fits once the previous window's weight drops below 4/10.
    expect(r[5].reset).toBe(t0 + 1600)
    now.mockReturnValue(t0 + 1600)
    expect((await limiter.limit('s')).success).toBe(true)
  })

  it('an unreachable Valkey fails open by default, closed when configured, and is counted', async () => {
    const down = makeCache({ url: 'redis://127.0.0.1:1', connectTimeoutMs: 200 })
    const open = new RateLimiter(down, { limit: 1, window: 1 })
    const closed = new RateLimiter(down, { limit: 1, window: 1, failOpen: false })
    const a = await open.limit('x')
    const b = await open.limit('x')
    expect([a.success, b.success, a.reason]).toEqual([true, true, 'failed-open'])
    const c = await closed.limit('x')
    expect([c.success, c.remaining, c.reason]).toEqual([false, 0, 'failed-closed'])
    expect(open.stats()).toEqual({ allowed: 0, denied: 0, failedOpen: 2, failedClosed: 0 })
    expect(closed.stats()).toEqual({ allowed: 0, denied: 0, failedOpen: 0, failedClosed: 1 })
  })
})

describe('rateLimitMiddleware over HTTP', () => {
  it('answers TOO_MANY_REQUESTS (429) with remaining/reset readable by the client', async () => {
    const limiter = new RateLimiter(makeCache({ url: inject('valkeyUrl') }), { limit: 2, window: 60 })
    const t = initTRPC.context<{ ip: string }>().create({
      transformer: superjson,
      errorFormatter: ({ shape, error }) => ({
        ...shape,
        data: {
          ...shape.data,
          rateLimit:
            error.cause instanceof RateLimitedError
              ? { limit: error.cause.limit, remaining: error.cause.remaining, reset: error.cause.reset }
              : null,
        },
      }),
    })
    const limited = t.procedure.use(
      rateLimitMiddleware(limiter, { id: ({ ctx, path }) => `${ctx.ip}:${path}` }),
    )
    const router = t.router({ ping: limited.query(() => 'pong') })
    const server = createHTTPServer({
      router,
      createContext: ({ req }) => ({ ip: req.socket.remoteAddress ?? '?' }),
    })
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
    open.push({ close: () => new Promise((r) => server.close(r)) })
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
    const client = createTRPCClient<typeof router>({
      links: [httpBatchLink({ url, transformer: superjson })],
    })
    expect(await client.ping.query()).toBe('pong')
    expect(await client.ping.query()).toBe('pong')
    const err = await client.ping.query().catch((e: unknown) => e)
    expect(err).toBeInstanceOf(TRPCClientError)
    const e = err as TRPCClientError<typeof router>
    expect(e.data?.code).toBe('TOO_MANY_REQUESTS')
    expect(e.data?.httpStatus).toBe(429)
    expect(e.message).toMatch(/remaining=0 reset=\d{13}/)
    const info = e.data?.rateLimit
    expect(info?.remaining).toBe(0)
    expect(info?.limit).toBe(2)
    expect(info?.reset).toBeGreaterThan(Date.now())
    expect(e.message).toContain(`reset=${info?.reset}`)
    expect(limiter.stats()).toMatchObject({ allowed: 2, denied: 1 })
  })
})
