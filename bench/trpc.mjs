#!/usr/bin/env node
// ferrocache's tRPC and rate-limit paths vs doing the same by hand with ioredis, against ONE Valkey.
//   node bench/trpc.mjs [--rounds N] [--slice MS] [--only http,caller,ratelimit] [--extra NAME,...] [--prof DIR]
// (a) http: a cached tRPC query over HTTP (standalone adapter in a child process, superjson,
//     32 keep-alive connections, 100 inputs, all hits after a warm-up): the routers of
//     bench/trpc-app.mjs (cacheMiddleware with and without L1, ioredis GET + superjson.parse by
//     hand, and the no-cache ceiling). Each variant is first checked through @trpc/client
//     (httpBatchLink + superjson: Dates and Maps survive); the load itself is plain GETs. Prints
//     req/s and the server's CPU time per request (all its threads), medians over rounds, and both
//     as ratios to the ceiling.
// (b) caller: the same routers in process through createCaller, 1 and 32 concurrent callers.
// (c) ratelimit: RateLimiter.limit vs ioredis running the same sliding-window Lua script by EVALSHA
//     (defineCommand, like @upstash/ratelimit), 64 concurrent callers over 1000 ids.
// --extra adds diagnostic variants ('ferrocache (ioPollUs 0)'), --variants keeps only the named
// ones; --prof DIR writes a --cpu-prof profile of the HTTP server there.
// Uses VALKEY_URL when set, otherwise starts a throwaway Valkey. Prints medians over alternating rounds.
import { fork } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import http from 'node:http'
import { createRequire } from 'node:module'
import { parseArgs } from 'node:util'
import { collectGarbage, hostCpu, median, runFor, stealBetween, stealSummary } from './harness.mjs'
import { CEILING, INPUTS, L1_VARIANT, makeRouters } from './trpc-app.mjs'

const { values: args } = parseArgs({
  options: {
    serve: { type: 'boolean', default: false },
    rounds: { type: 'string', default: '5' },
    slice: { type: 'string', default: '3000' },
    only: { type: 'string', default: 'http,caller,ratelimit' },
    extra: { type: 'string', default: '' },
    variants: { type: 'string' }, // only these variants (comma-separated names), e.g. for a profile
    prof: { type: 'string' }, // a folder: the tRPC server writes a --cpu-prof profile there
    help: { type: 'boolean', short: 'h', default: false },
  },
})
if (args.help) {
  console.log(
    'usage: node bench/trpc.mjs [--rounds N] [--slice MS] [--only http,caller,ratelimit] [--extra NAME,...] ' +
      '[--variants NAME,...] [--prof DIR]',
  )
  process.exit(0)
}
const extra = args.extra ? args.extra.split(',') : []
const chosen = (name) => !args.variants || args.variants.split(',').includes(name)
const CLIENTS = 32
const isPeer = (n) => !n.startsWith('ferrocache') && !n.startsWith('ceiling')

// ---------- (a) the server side, in a child process so clients and server do not share a core ----------
async function serve(url) {
  const { createHTTPServer } = await import('@trpc/server/adapters/standalone')
  const app = await makeRouters(url, extra)
  await app.ready()
  const ports = {}
  for (const [name, router] of Object.entries(app.routers)) {
    if (!chosen(name)) continue
    const server = createHTTPServer({ router })
    // Each variant's connections idle while the others run: no keep-alive timeout closing them
    // under a reused socket (ECONNRESET in the client).
    server.keepAliveTimeout = 0
    await new Promise((r) => server.listen(0, '127.0.0.1', r))
    ports[name] = server.address().port
  }
  process.send({ ports })
  process.on('message', (m) => {
    if (m === 'cpu') process.send({ cpu: process.cpuUsage(), threads: threadCpu() })
  })
  process.on('disconnect', async () => {
    await app.close()
    process.exit(0)
  })
}

/**
 * CPU time per kind of thread, in µs (Linux: /proc schedstat, ns resolution): the JS thread, the
 * engine's threads (ferrocache-io, tokio-*) and the rest (V8's GC and compiler helpers, libuv's pool).
 * Empty where /proc is missing.
 */
function threadCpu() {
  // `runs`: how often the JS thread was put on a core (schedstat's third field), i.e. its wake-ups.
  const out = { js: 0, engine: 0, other: 0, runs: 0 }
  let tasks
  try {
    tasks = readdirSync('/proc/self/task')
  } catch {
    return {}
  }
  for (const tid of tasks) {
    try {
      const stat = readFileSync(`/proc/self/task/${tid}/schedstat`, 'utf8').split(' ')
      const comm = readFileSync(`/proc/self/task/${tid}/comm`, 'utf8').trim()
      const kind = Number(tid) === process.pid ? 'js' : /^(ferrocache|tokio)/.test(comm) ? 'engine' : 'other'
      out[kind] += Number(stat[0]) / 1000
      if (kind === 'js') out.runs += Number(stat[2])
    } catch {
      // the thread ended between the listing and the read
    }
  }
  return out
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
  const child = fork(
    new URL(import.meta.url),
    ['--serve', '--extra', extra.join(','), ...(args.variants ? ['--variants', args.variants] : [])],
    {
      execArgv: args.prof ? ['--cpu-prof', `--cpu-prof-dir=${args.prof}`] : [],
      env: { ...process.env, BENCH_VALKEY_URL: url },
    },
  )
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
      child.once('message', (m) => resolve(m))
      child.send('cpu')
    })
  const cpu = Object.fromEntries(variants.map((v) => [v.name, []]))
  const threads = Object.fromEntries(variants.map((v) => [v.name, []]))
  const steal = []
  const result = await alternate(variants, rounds, slice, CLIENTS, async (v, run) => {
    const before = await serverCpu()
    const host = hostCpu()
    const { ops, seconds } = await run()
    steal.push(stealBetween(host, hostCpu()))
    const after = await serverCpu()
    cpu[v.name].push((after.cpu.user + after.cpu.system - before.cpu.user - before.cpu.system) / ops)
    threads[v.name].push(
      Object.fromEntries(
        Object.keys(after.threads).map((k) => [k, (after.threads[k] - before.threads[k]) / ops]),
      ),
    )
    return { ops, seconds }
  })
  child.disconnect()
  return { rates: result, cpu, threads, steal }
}

// ---------- (b) in process: createCaller ----------
async function benchCaller(url, rounds, slice, concurrency) {
  const app = await makeRouters(url, extra)
  await app.ready()
  const variants = []
  for (const [name, router] of Object.entries(app.routers)) {
    if (!chosen(name)) continue
    const caller = app.t.createCallerFactory(router)({})
    const sample = await caller.report({ id: 1 })
    if (!(sample.createdAt instanceof Date) || !(sample.totals instanceof Map))
      throw new Error(`${name}: types lost`)
    await Promise.all(Array.from({ length: INPUTS }, (_, id) => caller.report({ id })))
    let n = 0
    const v = { name, op: () => caller.report({ id: n++ % INPUTS }) }
    await runFor(v.op, { concurrency, ms: 300 }) // warm-up (fills the L1 tier)
    variants.push(v)
  }
  const cpu = Object.fromEntries(variants.map((v) => [v.name, []]))
  const rates = await alternate(variants, rounds, slice, concurrency, async (v, run) => {
    const before = process.cpuUsage()
    const { ops, seconds } = await run()
    const d = process.cpuUsage(before)
    cpu[v.name].push((d.user + d.system) / ops)
    return { ops, seconds }
  })
  await app.close()
  return { rates, cpu }
}

// ---------- (c) rate limiting ----------
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
      .filter(([n]) => isPeer(n))
      .map(([, m]) => m),
  )
  for (const [name, xs] of Object.entries(rates)) {
    const rounds = xs.map((x) => Math.round(x)).join(', ')
    console.log(
      `  ${name.padEnd(26)} median ${Math.round(med[name]).toString().padStart(7)} ${unit}   rounds: ${rounds}`,
    )
  }
  if (med.ferrocache !== undefined && Number.isFinite(bestPeer))
    console.log(`  ratio ferrocache / best peer: ${(med.ferrocache / bestPeer).toFixed(2)}`)
  return med
}

/** CPU µs per request per variant (median over rounds), and ratios to the ceiling and the best peer. */
/** Median over rounds of a[r] / b[r]: the two ran in the same round, so slow drifts of a shared machine cancel. */
const pairedRatio = (a, b) => median(a.map((x, r) => x / b[r]))

/** CPU µs per request per variant (median over rounds), and ratios to the ceiling and the best peer. */
function printCpu(rates, cpu) {
  const us = Object.fromEntries(Object.entries(cpu).map(([n, xs]) => [n, median(xs)]))
  for (const [n, m] of Object.entries(us)) {
    const rounds = cpu[n].map((x) => x.toFixed(0)).join(', ')
    console.log(`  ${n.padEnd(26)} CPU ${m.toFixed(0).padStart(5)} µs/request   rounds: ${rounds}`)
  }
  const peer = Math.min(
    ...Object.entries(us)
      .filter(([n]) => isPeer(n))
      .map(([, m]) => m),
  )
  if (us.ferrocache !== undefined && Number.isFinite(peer))
    console.log(`  CPU ratio best peer / ferrocache: ${(peer / us.ferrocache).toFixed(2)}`)
  console.log('  paired ratios (median over rounds of the ratio within each round):')
  if (us[CEILING] !== undefined) {
    for (const n of Object.keys(us).filter((x) => x.startsWith('ferrocache'))) {
      console.log(
        `  ${n} vs ceiling: req/s ${pairedRatio(rates[n], rates[CEILING]).toFixed(2)}×, ` +
          `CPU/request ${pairedRatio(cpu[CEILING], cpu[n]).toFixed(2)}× (ceiling ÷ ${n}; target ≥ 0.97 both)`,
      )
    }
  }
  if (us[L1_VARIANT] !== undefined && us.ferrocache !== undefined)
    console.log(
      `  l1 on / l1 off: req/s ${pairedRatio(rates[L1_VARIANT], rates.ferrocache).toFixed(2)}×, ` +
        `CPU/request ${pairedRatio(cpu.ferrocache, cpu[L1_VARIANT]).toFixed(2)}× (target ≥ 1)`,
    )
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
      const { rates, cpu, threads, steal } = await benchHttp(url, rounds, slice)
      print(`(a) cached tRPC query over HTTP, ${CLIENTS} concurrent clients`, 'req/s', rates)
      const stolen = stealSummary(steal)
      if (stolen)
        console.log(
          `  host steal time during the slices: median ${Math.round(stolen.median * 100)}%, ` +
            `max ${Math.round(stolen.max * 100)}% (high = the ratios say more about the host)`,
        )
      console.log('  server CPU (all its threads):')
      printCpu(rates, cpu)
      console.log(
        '  server CPU by thread, µs/request (medians): JS thread / engine threads / V8 helpers + libuv; JS thread wake-ups per request',
      )
      for (const [n, rs] of Object.entries(threads)) {
        const part = (k, digits = 0) =>
          median(rs.map((r) => r[k]))
            .toFixed(digits)
            .padStart(5)
        if (rs.length && rs[0].js !== undefined)
          console.log(`  ${n.padEnd(26)} ${part('js')} ${part('engine')} ${part('other')} ${part('runs', 2)}`)
      }
    }
    if (only.has('caller')) {
      for (const c of [1, CLIENTS]) {
        const { rates, cpu } = await benchCaller(url, rounds, Math.min(slice, 1500), c)
        print(`(b) cached tRPC query in process (createCaller), ${c} concurrent callers`, 'calls/s', rates)
        console.log('  process CPU (all its threads, Valkey excluded):')
        printCpu(rates, cpu)
      }
    }
    if (only.has('ratelimit')) {
      print(
        '(c) sliding-window rate limit, 64 concurrent callers',
        'ops/s',
        await benchRateLimit(url, rounds, slice),
      )
    }
  } finally {
    await stop()
  }
}
