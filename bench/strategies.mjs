#!/usr/bin/env node
// Caching strategies, ratios from one run against one Valkey. Peers that are compared run in
// alternating rounds (A B A B …) and the ratio printed is the median of the per-round ratios, so
// load from other processes on the machine hits both sides alike.
//   1. refresh-ahead hit vs plain getOrSet hit (the age comes with the read: no extra round trip)
//   2. warm(10,000 keys, 5 ms loader, concurrency 16) vs a naive `for … await getOrSet` loop
//      (the loop is timed on 500 keys and extrapolated: 10,000 × 5 ms would take ~50 s)
//   3. write-behind: writer.set vs a hand-written ioredis pipeline doing the same work (SET of the
//      JSON value + XADD of the journal entry into one of 16 streams), then flush throughput into
//      a sink (a Map): a backlog journaled while the sink is shut, timed from opening it to drained
//   node bench/strategies.mjs [--ms 3000] [--rounds 25] [--backlog 20000]
//   --ms: time per variant, split over the rounds (each round runs every variant once); short
//   rounds pair the variants closely in time, which keeps the ratio steady on a loaded machine
// Uses VALKEY_URL when set, otherwise starts a throwaway Valkey with scripts/valkey.mjs.
import { createRequire } from 'node:module'
import { parseArgs } from 'node:util'
import { Cache } from '../dist/index.mjs'
import { startValkey } from '../scripts/valkey.mjs'
import { collectGarbage, runFor } from './harness.mjs'

const { values } = parseArgs({
  options: {
    ms: { type: 'string', default: '3000' },
    rounds: { type: 'string', default: '25' },
    backlog: { type: 'string', default: '20000' },
  },
})
const MS = Number(values.ms)
const ROUNDS = Math.max(1, Number(values.rounds))
const ROUND_MS = Math.max(100, Math.round(MS / ROUNDS))
const BACKLOG = Number(values.backlog)
const FLUSH_ROUNDS = 5
const C = 64
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2
}
const server = process.env.VALKEY_URL ? undefined : await startValkey()
const url = process.env.VALKEY_URL ?? server.url
const prefix = `bench-strat:${process.pid}:`
const cache = new Cache({ url, prefix })
await cache.health()
const { Redis } = createRequire(import.meta.url)('ioredis')
const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 })
await redis.connect()
/** Commands Valkey has run so far (INFO commandstats), not counting these INFO calls. */
let infoCalls = 0
async function commandsRun() {
  const text = await redis.info('commandstats')
  infoCalls++
  let n = 0
  for (const m of text.matchAll(/calls=(\d+)/g)) n += Number(m[1])
  return n - infoCalls
}
const row = (name, value, unit) => {
  console.log(`${name.padEnd(62)} ${typeof value === 'number' ? value.toFixed(2) : value} ${unit}`)
}

/**
 * Runs `variants` ({ name: op }) in alternating rounds; returns per-variant arrays of ops/s and of
 * ops per CPU second of this process (less sensitive to other processes' load than wall time).
 */
async function alternate(variants) {
  const names = Object.keys(variants)
  const rates = Object.fromEntries(names.map((n) => [n, []]))
  const perCpu = Object.fromEntries(names.map((n) => [n, []]))
  const commands = Object.fromEntries(names.map((n) => [n, 0]))
  const ops = Object.fromEntries(names.map((n) => [n, 0]))
  for (let r = 0; r < ROUNDS; r++) {
    // Odd rounds run the variants in reverse, so neither always goes first.
    // No forced GC between rounds: a full collection before each short round slowed whichever
    // variant's code it had just flushed (refresh-ahead hits read 0.73–0.91× plain with it, ~1.0×
    // without); garbage from alternating rounds lands on both variants alike.
    for (const n of r % 2 ? [...names].reverse() : names) {
      const before = await commandsRun()
      const cpu = process.cpuUsage()
      const res = await runFor(variants[n], { concurrency: C, ms: ROUND_MS })
      const used = process.cpuUsage(cpu)
      commands[n] += (await commandsRun()) - before
      ops[n] += res.ops
      rates[n].push(res.ops / res.seconds)
      perCpu[n].push(res.ops / ((used.user + used.system) / 1e6))
    }
  }
  const perOp = Object.fromEntries(names.map((n) => [n, commands[n] / ops[n]]))
  return { ...rates, cpu: perCpu, commandsPerOp: perOp }
}
const ratios = (a, b) => a.map((x, i) => x / b[i])
const spread = (xs) => `[${xs.map((x) => x.toFixed(x >= 100 ? 0 : 2)).join(' ')}]`

console.log(`rounds: ${ROUNDS} × ${ROUND_MS} ms per variant, concurrency ${C}`)

// 1. Hits: plain vs refresh-ahead (an entry not yet due, so both only read).
await cache.getOrSet('hot', () => ({ v: 1 }), { ttl: 3600 })
const loader = () => ({ v: 2 })
const hits = await alternate({
  plain: () => cache.getOrSet('hot', loader, { ttl: 3600 }),
  ahead: () => cache.getOrSet('hot', loader, { ttl: 3600, refreshAhead: 0.8 }),
})
row('getOrSet hit, plain (median ops/s)', median(hits.plain), 'ops/s')
row('getOrSet hit, refreshAhead 0.8 (median ops/s)', median(hits.ahead), 'ops/s')
const hitRatios = ratios(hits.ahead, hits.plain)
row(`refresh-ahead / plain, median of ${ROUNDS} rounds ${spread(hitRatios)}`, median(hitRatios), '×')
const hitCpu = ratios(hits.cpu.ahead, hits.cpu.plain)
row(`  same, ops per CPU second of this process ${spread(hitCpu)}`, median(hitCpu), '×')
const perHit = hits.commandsPerOp
row(
  'Valkey commands per hit: plain / refresh-ahead',
  `${perHit.plain.toFixed(3)} / ${perHit.ahead.toFixed(3)}`,
  '',
)

// 2. Warming.
const slow = (i) => async () => {
  await sleep(5)
  return { i }
}
async function* entries(keyPrefix, n) {
  for (let i = 0; i < n; i++) yield { key: `${keyPrefix}${i}`, loader: slow(i), ttl: 600 }
}
let t0 = performance.now()
await cache.warm(entries('w:', 10_000), { concurrency: 16 })
const warmMs = performance.now() - t0
t0 = performance.now()
for (let i = 0; i < 500; i++) await cache.getOrSet(`n:${i}`, slow(i), { ttl: 600 })
const naiveMs = ((performance.now() - t0) / 500) * 10_000
row('warm 10,000 keys, 5 ms loader, concurrency 16', warmMs, 'ms')
row('naive for…await getOrSet (extrapolated from 500 keys)', naiveMs, 'ms')
row('warm speed-up', naiveMs / warmMs, '×')

// 3. Write-behind. The sink stays shut while writes are journaled (a backlog builds up).
const sink = new Map()
let open = () => {}
let gate = new Promise((r) => (open = r))
const writer = cache.writeBehind({
  name: 'bench',
  batchSize: 1000,
  maxDelayMs: 50,
  flush: async (batch) => {
    await gate
    for (const e of batch) sink.set(e.key, e.value)
  },
})
const TTL_MS = 3_600_000
// What writer.set stores, by hand: the value under its key, and a journal entry in the stream of
// the key's partition (the same fields), sent as one pipeline per write.
const partition = (key) => {
  let h = 0x811c9dc5
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193)
  return (h >>> 0) % 16
}
const ioPrefix = `${prefix}io:`
const ioWrite = (i) => {
  const key = `wb:${i}`
  const v = JSON.stringify({ i })
  const stream = `${ioPrefix}{journal:${partition(key)}}`
  return redis
    .pipeline()
    .xadd(stream, '*', 'k', key, 'o', 's', 'c', '1', 'e', 't', 'v', v)
    .set(ioPrefix + key, v, 'PX', TTL_MS)
    .exec()
    .then((res) => {
      for (const [err] of res) if (err) throw err
    })
}
const sets = await alternate({
  'writer.set': (i) => writer.set(`wb:${i}`, { i }, { ttl: TTL_MS / 1000 }),
  ioredis: ioWrite,
})
row('writer.set (cached + journaled, median ops/s)', median(sets['writer.set']), 'ops/s')
row('ioredis pipeline SET + XADD (median ops/s)', median(sets.ioredis), 'ops/s')
const setRatios = ratios(sets['writer.set'], sets.ioredis)
row(`writer.set / ioredis, median of ${ROUNDS} rounds ${spread(setRatios)}`, median(setRatios), '×')
const setCpu = ratios(sets.cpu['writer.set'], sets.cpu.ioredis)
row(`  same, ops per CPU second of this process ${spread(setCpu)}`, median(setCpu), '×')
const perSet = sets.commandsPerOp
row(
  'Valkey commands per write: writer.set / ioredis',
  `${perSet['writer.set'].toFixed(3)} / ${perSet.ioredis.toFixed(3)}`,
  '',
)

// Flush: drain what the rounds above journaled (untimed), then time backlogs of BACKLOG entries.
open()
await writer.drain()
const flushRates = []
for (let r = 0; r < FLUSH_ROUNDS; r++) {
  gate = new Promise((res) => (open = res))
  let next = 0
  await Promise.all(
    Array.from({ length: C }, async () => {
      while (next < BACKLOG) {
        const i = next++
        await writer.set(`fb:${r}:${i}`, { i })
      }
    }),
  )
  collectGarbage()
  t0 = performance.now()
  open()
  await writer.drain()
  flushRates.push(BACKLOG / ((performance.now() - t0) / 1000))
}
row(
  `flush a backlog of ${BACKLOG} entries into a Map sink, median of ${FLUSH_ROUNDS} ${spread(flushRates)}`,
  median(flushRates),
  'entries/s',
)

await writer.close()
await redis.quit()
await cache.clear()
await cache.close()
await server?.stop()
