// Issue "tags, L1": in-process tier hits, tag invalidation cost, and tagged-read cost — ferrocache
// beside bentocache's memory tier and lru-cache, in one run. `node bench/tiers.mjs [--rounds N]`.
// Ratios are what count (2 shared, noisy cores).
import { BentoCache, bentostore } from 'bentocache'
import { memoryDriver } from 'bentocache/drivers/memory'
import { LRUCache } from 'lru-cache'
import { Cache } from '../dist/index.mjs'
import { startValkey } from '../scripts/valkey.mjs'
import { makeRecord } from './data.mjs'
import { runFor } from './harness.mjs'

const args = process.argv.slice(2)
const rounds = Number(args[args.indexOf('--rounds') + 1]) || 5
const SLICE = 600
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
const fmt = (n) => Math.round(n).toLocaleString('en-US')

const server = process.env.VALKEY_URL
  ? { url: process.env.VALKEY_URL, stop: async () => {} }
  : await startValkey()
const url = server.url
const value = makeRecord(7)
const KEYS = 1000

// --- 1. L1 hit of a ~1 KB object ---
const fc = new Cache({ url, prefix: `tiers${process.pid}:`, l1: { maxEntries: 10_000 } })
await fc.health()
for (let i = 0; i < 50 && !(await fc.health()).ok; i++) await new Promise((r) => setTimeout(r, 20))
for (let i = 0; i < KEYS; i++) await fc.set(`k${i}`, value)
const bentoSer = new BentoCache({
  default: 'm',
  stores: { m: bentostore().useL1Layer(memoryDriver({ maxItems: 10_000 })) },
})
const bentoRaw = new BentoCache({
  default: 'm',
  stores: { m: bentostore().useL1Layer(memoryDriver({ maxItems: 10_000, serialize: false })) },
})
const lru = new LRUCache({ max: 10_000 })
for (let i = 0; i < KEYS; i++) {
  await bentoSer.set({ key: `k${i}`, value })
  await bentoRaw.set({ key: `k${i}`, value })
  lru.set(`k${i}`, value)
}
await new Promise((r) => setTimeout(r, 100)) // the bus is subscribed: L1 is on
for (let i = 0; i < KEYS; i++) await fc.get(`k${i}`) // fill L1

const contenders = {
  'ferrocache L1': (i) => fc.get(`k${i % KEYS}`),
  'bentocache L1 (serialize on)': (i) => bentoSer.get({ key: `k${i % KEYS}` }),
  'bentocache L1 (serialize off)': (i) => bentoRaw.get({ key: `k${i % KEYS}` }),
  'lru-cache get (sync, no await)': null,
}
const l1 = Object.fromEntries(Object.keys(contenders).map((k) => [k, []]))
for (let r = 0; r < rounds; r++) {
  for (const [name, op] of Object.entries(contenders)) {
    if (op === null) {
      const t0 = process.hrtime.bigint()
      let n = 0
      const end = t0 + BigInt(SLICE * 1e6)
      while (process.hrtime.bigint() < end) for (let j = 0; j < 1000; j++) lru.get(`k${n++ % KEYS}`)
      l1[name].push(n / (Number(process.hrtime.bigint() - t0) / 1e9))
    } else {
      const { ops, seconds } = await runFor(op, { concurrency: 1, ms: SLICE })
      l1[name].push(ops / seconds)
    }
  }
}
const s = fc.stats()
console.log(
  `\nL1 hit, ~1 KB object, sequential awaits (median of ${rounds} rounds; l1Hits ${fmt(s.l1Hits)}, l2Hits ${fmt(s.l2Hits)})`,
)
console.log('| client | ops/s | ferrocache ÷ this |\n| --- | ---: | ---: |')
const fcL1 = median(l1['ferrocache L1'])
for (const [name, xs] of Object.entries(l1))
  console.log(`| ${name} | ${fmt(median(xs))} | ${(fcL1 / median(xs)).toFixed(2)}× |`)

// --- 2. invalidateTags cost vs number of tagged keys ---
const tagged = new Cache({ url, prefix: `tags${process.pid}:` })
console.log('\ninvalidateTags of one tag (median of 5 calls)')
console.log('| keys carrying the tag | invalidateTags ms |\n| ---: | ---: |')
for (const n of [1_000, 100_000]) {
  const tag = `big${n}`
  for (let i = 0; i < n; i += 5000) {
    await tagged.setMany(
      Array.from({ length: Math.min(5000, n - i) }, (_, j) => ({
        key: `t${n}:${i + j}`,
        value: { i: i + j },
        tags: [tag],
      })),
    )
  }
  const times = []
  for (let r = 0; r < 5; r++) {
    const t0 = process.hrtime.bigint()
    await tagged.invalidateTags([tag])
    times.push(Number(process.hrtime.bigint() - t0) / 1e6)
  }
  console.log(`| ${fmt(n)} | ${median(times).toFixed(2)} |`)
}

// --- 3. read cost: 3 tags per entry vs untagged (Valkey, no L1) ---
const plain = new Cache({ url, prefix: `rd${process.pid}:` })
for (let i = 0; i < KEYS; i++) {
  await plain.set(`u${i}`, value)
  await plain.set(`g${i}`, value, { tags: [`a${i % 10}`, `b${i % 7}`, 'all'] })
}
const reads = { untagged: [], '3 tags': [] }
for (let r = 0; r < rounds; r++) {
  for (const [name, p] of [
    ['untagged', 'u'],
    ['3 tags', 'g'],
  ]) {
    const { ops, seconds } = await runFor((i) => plain.get(`${p}${i % KEYS}`), { concurrency: 64, ms: SLICE })
    reads[name].push(ops / seconds)
  }
}
const ut = median(reads.untagged)
const tg = median(reads['3 tags'])
console.log(`\nRead of a ~1 KB value, concurrency 64 (median of ${rounds} rounds)`)
console.log(`| entry | ops/s |\n| --- | ---: |\n| untagged | ${fmt(ut)} |\n| 3 tags | ${fmt(tg)} |`)
console.log(`tagged read cost = ${(ut / tg).toFixed(2)}× an untagged read`)

await Promise.all([fc.close(), tagged.close(), plain.close()])
await Promise.all([bentoSer.disconnect(), bentoRaw.disconnect()])
await server.stop()
