#!/usr/bin/env node
// Caching strategies, ratios from one run:
//   1. refresh-ahead hit vs plain getOrSet hit (the age comes with the read: no extra round trip)
//   2. warm(10,000 keys, 5 ms loader, concurrency 16) vs a naive `for … await getOrSet` loop
//      (the loop is timed on 500 keys and extrapolated: 10,000 × 5 ms would take ~50 s)
//   3. write-behind: writer.set throughput, and flush throughput into a sink (a Map)
//   node bench/strategies.mjs [--ms 3000]
// Uses VALKEY_URL when set, otherwise starts a throwaway Valkey with scripts/valkey.mjs.
import { parseArgs } from 'node:util'
import { Cache } from '../dist/index.mjs'
import { startValkey } from '../scripts/valkey.mjs'
import { runFor } from './harness.mjs'

const { values } = parseArgs({ options: { ms: { type: 'string', default: '3000' } } })
const MS = Number(values.ms)
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))
const server = process.env.VALKEY_URL ? undefined : await startValkey()
const url = process.env.VALKEY_URL ?? server.url
const cache = new Cache({ url, prefix: `bench-strat:${process.pid}:` })
await cache.health()
const rows = []
const row = (name, value, unit) => {
  rows.push({ name, value, unit })
  console.log(`${name.padEnd(58)} ${typeof value === 'number' ? value.toFixed(2) : value} ${unit}`)
}

// 1. Hits: plain vs refresh-ahead (an entry not yet due, so both only read).
await cache.getOrSet('hot', () => ({ v: 1 }), { ttl: 3600 })
const loader = () => ({ v: 2 })
const plain = await runFor(() => cache.getOrSet('hot', loader, { ttl: 3600 }), { concurrency: 64, ms: MS })
const ahead = await runFor(() => cache.getOrSet('hot', loader, { ttl: 3600, refreshAhead: 0.8 }), {
  concurrency: 64,
  ms: MS,
})
const plainOps = plain.ops / plain.seconds
const aheadOps = ahead.ops / ahead.seconds
row('getOrSet hit, plain (ops/s, c=64)', plainOps, 'ops/s')
row('getOrSet hit, refreshAhead 0.8 (ops/s, c=64)', aheadOps, 'ops/s')
row('refresh-ahead / plain', aheadOps / plainOps, '×')

// 2. Warming.
const slow = (i) => async () => {
  await sleep(5)
  return { i }
}
async function* entries(prefix, n) {
  for (let i = 0; i < n; i++) yield { key: `${prefix}${i}`, loader: slow(i), ttl: 600 }
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

// 3. Write-behind. The sink is held shut while writes are journaled (a backlog builds up), then
// opened: flush throughput is the backlog over the time it took to drain.
const sink = new Map()
let open
const gate = new Promise((r) => (open = r))
const writer = cache.writeBehind({
  name: 'bench',
  batchSize: 1000,
  maxDelayMs: 50,
  flush: async (batch) => {
    await gate
    for (const e of batch) sink.set(e.key, e.value)
  },
})
const sets = await runFor((i) => writer.set(`wb:${i}`, { i }), { concurrency: 64, ms: MS })
row('writer.set (cached + journaled, c=64)', sets.ops / sets.seconds, 'ops/s')
t0 = performance.now()
open()
await writer.drain()
const drainS = (performance.now() - t0) / 1000
row(`flush a backlog of ${sets.ops} entries into a Map sink`, sets.ops / drainS, 'entries/s')
await writer.close()
await cache.clear()
await cache.close()
await server?.stop()
