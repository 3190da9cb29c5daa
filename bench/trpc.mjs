#!/usr/bin/env node
// ferrocache's tRPC and rate-limit paths vs doing the same by hand with ioredis, against ONE Valkey.
//   node bench/trpc.mjs [--rounds N] [--slice MS] [--only http,ratelimit] [--prof DIR]
// (a) http: a cached tRPC query over HTTP (standalone adapter in a child process, superjson,
//     32 keep-alive connections, 100 inputs, all hits after a warm-up): cacheMiddleware vs a `.use()`
//     middleware doing ioredis GET + superjson.parse, or run + SET; plus a ceiling that answers from
//     prebuilt values (no cache at all). Each variant is first checked through @trpc/client
//     (httpBatchLink + superjson: Dates and Maps survive); the load itself is plain GETs. Prints
//     req/s and the server's CPU time per request (all its threads).
// (b) ratelimit: RateLimiter.limit vs ioredis running the same sliding-window Lua script by EVALSHA
//     (defineCommand, like @upstash/ratelimit), 64 concurrent callers over 1000 ids.
// Uses VALKEY_URL when set, otherwise starts a throwaway Valkey. Prints medians over alternating rounds.
import { fork } from 'node:child_process'
import http from 'node:http'
import { createRequire } from 'node:module'
import { parseArgs } from 'node:util'
import { collectGarbage, median, runFor } from './harness.mjs'

const { values: args } = parseArgs({
  options: {
    serve: { type: 'boolean', default: false },
    rounds: { type: 'string', default: '5' },
    slice: { type: 'string', default: '3000' },
    only: { type: 'string', default: 'http,ratelimit' },
    prof: { type: 'string' }, // a folder: the tRPC server writes a --cpu-prof profile there
  },
})
const INPUTS = 100
const CEILING = 'ceiling (no cache)'
const CLIENTS = 32

// ---------- (a) the server side, in a child process so clients and server do not share a core ----------
async function serve(url) {
  const { initTRPC } = await import('@trpc/server')
  const { createHTTPServer } = await import('@trpc/server/adapters/standalone')
  const { default: superjson } = await import('superjson')
  const { Redis } = await import('ioredis')
  const { Cache } = await import('../dist/index.mjs')
  const { cacheMiddleware } = await import('../dist/trpc.mjs')
  const cache = new Cache({ url, prefix: `bench-trpc:${process.pid}:` })
  const redis = new Redis(url, { maxRetriesPerRequest: 1 })
  const t = initTRPC.create({ transformer: superjson })
  const report = (id) => ({
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
  })
  // The usual hand-written version: JSON key, GET + superjson.parse on a hit, run + SET on a miss.
  // Answering without next() needs the same `{ ok, data, marker }` shape cacheMiddleware uses.
  const byHand = t.middleware(async ({ path, type, getRawInput, next }) => {
    if (type !== 'query') return next()
    const key = `bench-trpc-hand:${process.pid}:${path}:${JSON.stringify(await getRawInput())}`
    const hit = await redis.get(key)
    if (hit !== null) return { ok: true, data: superjson.parse(hit), marker: 'middlewareMarker' }
    const r = await next()
    if (r.ok) await redis.set(key, superjson.stringify(r.data), 'PX', 300_000)
    return r
  })
  // Not a peer: answers from prebuilt values in a Map, i.e. what a cache that cost nothing would
  // do. The gap between it and the others is all a cache middleware can ever win on this path.
  const prebuilt = new Map(Array.from({ length: INPUTS }, (_, id) => [id, report(id)]))
  const ceiling = t.middleware(async ({ getRawInput }) => {
    const { id } = await getRawInput()
    return { ok: true, data: prebuilt.get(id), marker: 'middlewareMarker' }
  })
  const input = (v) => v // no validator: all variants see the same raw input
  const routers = {
    ferrocache: t.router({
      report: t.procedure
        .input(input)
        .use(cacheMiddleware(cache, { scope: 'public', ttl: 300 }))
        .query(({ input }) => report(input.id)),
    }),
    ioredis: t.router({
      report: t.procedure
        .input(input)
        .use(byHand)
        .query(({ input }) => report(input.id)),
    }),
    [CEILING]: t.router({
      report: t.procedure
        .input(input)
        .use(ceiling)
        .query(({ input }) => report(input.id)),
    }),
  }
  const ports = {}
  for (const [name, router] of Object.entries(routers)) {
    const server = createHTTPServer({ router })
    await new Promise((r) => server.listen(0, '127.0.0.1', r))
    ports[name] = server.address().port
  }
  process.send({ ports })
  process.on('message', (m) => {
    if (m === 'cpu') process.send({ cpu: process.cpuUsage() })
  })
  process.on('disconnect', async () => {
    await cache.close()
    redis.disconnect()
    process.exit(0)
  })
}

// httpBatchLink's `fetch`, on node:http with keep-alive (the global fetch costs the client ~1.5 ms of
// CPU per request). Used for the correctness check; the load itself is plain keep-alive GETs.
const agent = new http.Agent({ keepAlive: true, maxSockets: CLIENTS })
function lightFetch(url, init) {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: init.method, headers: init.headers, agent }, (res) => {
      const chunks = []
      res.on('data', (c) => chunks.push(c))
      res.on('error', reject)
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8')
        resolve({ ok: res.statusCode < 300, status: res.statusCode, json: async () => JSON.parse(text) })
      })
    })
    req.on('error', reject)
    req.end(init.body ?? undefined)
  })
}

/**
 * One GET of `path` on a keep-alive connection; resolves the body's length, rejects on a non-200.
 * The load generator shares the 2 cores with the server and Valkey, so it does as little as a
 * client can (what wrk or autocannon do): no tRPC client, no superjson on the responses.
 */
function get(port, path) {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent }, (res) => {
      let n = 0
      res.on('data', (c) => (n += c.length))
      res.on('error', reject)
      res.on('end', () => (res.statusCode === 200 ? resolve(n) : reject(new Error(`HTTP ${res.statusCode}`))))
    })
    req.on('error', reject)
  })
}

async function benchHttp(url, rounds, slice) {
  const { createTRPCClient, httpBatchLink } = await import('@trpc/client')
  const { default: superjson } = await import('superjson')
  const child = fork(new URL(import.meta.url), ['--serve'], {
    execArgv: args.prof ? ['--cpu-prof', `--cpu-prof-dir=${args.prof}`] : [],
    env: { ...process.env, BENCH_VALKEY_URL: url },
  })
  const { ports } = await new Promise((resolve, reject) => {
    child.once('message', resolve)
    child.once('exit', (code) => reject(new Error(`server exited with ${code}`)))
  })
  // What httpLink sends for `report.query({ id })`: GET /report?input=<superjson JSON>.
  const paths = Array.from(
    { length: INPUTS },
    (_, id) => `/report?input=${encodeURIComponent(JSON.stringify(superjson.serialize({ id })))}`,
  )
  const variants = []
  for (const [name, port] of Object.entries(ports)) {
    // Correctness first, through the real client: types survive, and every input is cached.
    const client = createTRPCClient({
      links: [httpBatchLink({ url: `http://127.0.0.1:${port}`, transformer: superjson, fetch: lightFetch })],
    })
    const sample = await client.report.query({ id: 1 })
    if (!(sample.createdAt instanceof Date) || !(sample.totals instanceof Map))
      throw new Error(`${name}: types lost`)
    await Promise.all(Array.from({ length: INPUTS }, (_, id) => client.report.query({ id })))
    let n = 0
    const v = { name, op: () => get(port, paths[n++ % INPUTS]) }
    await runFor(v.op, { concurrency: CLIENTS, ms: 500 }) // warm-up
    variants.push(v)
  }
  // The server's CPU time (all its threads) per request: steadier than req/s on a noisy machine.
  const serverCpu = () =>
    new Promise((resolve) => {
      child.once('message', (m) => resolve(m.cpu.user + m.cpu.system))
      child.send('cpu')
    })
  const cpu = Object.fromEntries(variants.map((v) => [v.name, []]))
  const result = await alternate(variants, rounds, slice, CLIENTS, async (v, run) => {
    const before = await serverCpu()
    const { ops, seconds } = await run()
    cpu[v.name].push(((await serverCpu()) - before) / ops)
    return { ops, seconds }
  })
  child.disconnect()
  return { rates: result, cpu }
}

// ---------- (b) rate limiting ----------
async function benchRateLimit(url, rounds, slice) {
  const { Redis } = await import('ioredis')
  const { Cache, RateLimiter } = await import('../dist/index.mjs')
  // The limiter's own sliding-window script, so both sides run identical Lua.
  const require = createRequire(new URL('../dist/index.mjs', import.meta.url))
  const { SCRIPTS } = require('./features/rate-limit-scripts.js')
  const cache = new Cache({ url, prefix: `bench-rl:${process.pid}:` })
  const limiter = new RateLimiter(cache, { limit: 1_000_000, window: 60 })
  const peers = [false, true].map((autoPipelining) => {
    const redis = new Redis(url, { maxRetriesPerRequest: 1, enableAutoPipelining: autoPipelining })
    redis.defineCommand('slidingLimit', { numberOfKeys: 1, lua: SCRIPTS['sliding-window'] })
    const prefix = `bench-rl-${autoPipelining ? 'ioredis-ap' : 'ioredis'}:${process.pid}:`
    let i = 0
    return {
      name: autoPipelining ? 'ioredis (auto-pipelining)' : 'ioredis',
      redis,
      op: async () => {
        const [ok, remaining, reset] = await redis.slidingLimit(`${prefix}${i++ % 1000}`, 1_000_000, 60_000)
        return { success: ok === 1, limit: 1_000_000, remaining, reset }
      },
    }
  })
  let j = 0
  const variants = [{ name: 'ferrocache', op: () => limiter.limit(`user-${j++ % 1000}`) }, ...peers]
  for (const v of variants) {
    if (!(await v.op()).success) throw new Error(`${v.name}: denied`)
    await runFor(v.op, { concurrency: 64, ms: 500 })
  }
  const result = await alternate(variants, rounds, slice, 64)
  await cache.close()
  for (const p of peers) p.redis.disconnect()
  return result
}

/**
 * Rounds of every variant, the order rotating each round; returns { name: [ops/s per round] }.
 * `around(variant, run)` may wrap each timed slice (it must return what `run()` returns).
 */
async function alternate(variants, rounds, slice, concurrency, around = (_, run) => run()) {
  const rates = Object.fromEntries(variants.map((v) => [v.name, []]))
  for (let r = 0; r < rounds; r++) {
    for (let k = 0; k < variants.length; k++) {
      const v = variants[(r + k) % variants.length]
      collectGarbage()
      const { ops, seconds } = await around(v, () => runFor(v.op, { concurrency, ms: slice }))
      rates[v.name].push(ops / seconds)
    }
  }
  return rates
}

function print(title, unit, rates) {
  console.log(`\n${title}`)
  const med = Object.fromEntries(Object.entries(rates).map(([n, xs]) => [n, median(xs)]))
  const bestPeer = Math.max(
    ...Object.entries(med)
      .filter(([n]) => n !== 'ferrocache' && n !== CEILING)
      .map(([, m]) => m),
  )
  for (const [name, xs] of Object.entries(rates)) {
    const rounds = xs.map((x) => Math.round(x)).join(', ')
    console.log(
      `  ${name.padEnd(26)} median ${Math.round(med[name]).toString().padStart(7)} ${unit}   rounds: ${rounds}`,
    )
  }
  console.log(`  ratio ferrocache / best peer: ${(med.ferrocache / bestPeer).toFixed(2)}`)
}

if (args.serve) {
  await serve(process.env.BENCH_VALKEY_URL)
} else {
  let url = process.env.VALKEY_URL
  let stop = async () => {}
  if (!url) {
    const { startValkey } = await import('../scripts/valkey.mjs')
    const server = await startValkey()
    url = server.url
    stop = () => server.stop()
  }
  const rounds = Number(args.rounds)
  const slice = Number(args.slice)
  const only = new Set(args.only.split(','))
  console.log(`Valkey ${url}; ${rounds} rounds × ${slice} ms per variant; node ${process.version}`)
  try {
    if (only.has('http')) {
      const { rates, cpu } = await benchHttp(url, rounds, slice)
      print(`(a) cached tRPC query over HTTP, ${CLIENTS} concurrent clients`, 'req/s', rates)
      const us = Object.fromEntries(Object.entries(cpu).map(([n, xs]) => [n, median(xs)]))
      for (const [n, m] of Object.entries(us))
        console.log(`  ${n.padEnd(26)} server CPU ${m.toFixed(0)} µs/request`)
      const peer = Math.min(
        ...Object.entries(us)
          .filter(([n]) => n !== 'ferrocache' && n !== CEILING)
          .map(([, m]) => m),
      )
      console.log(`  server CPU ratio best peer / ferrocache: ${(peer / us.ferrocache).toFixed(2)}`)
    }
    if (only.has('ratelimit')) {
      print(
        '(b) sliding-window rate limit, 64 concurrent callers',
        'ops/s',
        await benchRateLimit(url, rounds, slice),
      )
    }
  } finally {
    await stop()
  }
}
