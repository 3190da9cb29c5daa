// The sequential path, A/B: one caller awaiting reads back to back (the c=1 case of a server component
// that awaits a few cache reads in a row), ferrocache with its direct path on and off, and node-redis, in
// alternating slices against one Valkey. Prints per op the median wall time and the CPU the whole process
// spent (all threads: `process.cpuUsage`), and ratios to node-redis.
//
//   node bench/sequential.mjs [--rounds N] [--slice MS] [--op get|getMany]
//
// Uses VALKEY_URL when set, otherwise starts a throwaway Valkey with scripts/valkey.mjs.
import { parseArgs } from 'node:util'
import { makeRecord } from './data.mjs'
import { collectGarbage, median } from './harness.mjs'

const { values: args } = parseArgs({
  options: {
    rounds: { type: 'string', default: '7' },
    slice: { type: 'string', default: '1000' },
    op: { type: 'string', default: 'get' },
  },
})
const rounds = Number(args.rounds)
const sliceMs = Number(args.slice)
if (!(rounds >= 1) || !(sliceMs > 0)) throw new Error('--rounds and --slice must be positive')
if (!['get', 'getMany'].includes(args.op)) throw new Error('--op is get or getMany')
const KEYS = 1000
const MANY = 100

const { Cache } = await import('../dist/index.mjs')
const { createClient } = await import('redis')

let valkey
let url = process.env.VALKEY_URL
if (!url) {
  const { startValkey } = await import('../scripts/valkey.mjs')
  valkey = await startValkey()
  url = valkey.url
}

const ferrocache = (directSocket) => {
  const cache = new Cache({ url, prefix: `bench:seq:${directSocket ? 'on' : 'off'}:`, directSocket })
  return {
    name: `ferrocache (directSocket ${directSocket ? 'on' : 'off'})`,
    set: (k, v) => cache.set(k, v, { ttl: 300 }),
    get: (k) => cache.get(k),
    getMany: (ks) => cache.getMany(ks),
    close: () => cache.close(),
  }
}
const nodeRedis = async () => {
  const client = createClient({ url })
  client.on('error', () => {})
  await client.connect()
  const parse = (s) => (s == null ? null : JSON.parse(s))
  return {
    name: 'node-redis',
    set: (k, v) =>
      client.set(`bench:seq:nr:${k}`, JSON.stringify(v), { expiration: { type: 'PX', value: 300_000 } }),
    get: async (k) => parse(await client.get(`bench:seq:nr:${k}`)),
    getMany: async (ks) => (await client.mGet(ks.map((k) => `bench:seq:nr:${k}`))).map(parse),
    close: () => client.close(),
  }
}

const contestants = [ferrocache(true), ferrocache(false), await nodeRedis()]
const records = Array.from({ length: KEYS }, (_, i) => makeRecord(i))
for (const c of contestants) for (let i = 0; i < KEYS; i++) await c.set(`k${i}`, records[i])
const batches = Array.from({ length: KEYS / MANY }, (_, b) =>
  Array.from({ length: MANY }, (_, j) => `k${b * MANY + j}`),
)

/** One slice of back-to-back awaited ops: { wallUs, cpuUs } per op. */
async function slice(c) {
  const op = args.op === 'get' ? (i) => c.get(`k${i % KEYS}`) : (i) => c.getMany(batches[i % batches.length])
  for (let i = 0; i < 200; i++) await op(i)
  collectGarbage()
  const cpu0 = process.cpuUsage()
  const t0 = process.hrtime.bigint()
  const end = t0 + BigInt(sliceMs * 1e6)
  let n = 0
  while (process.hrtime.bigint() < end) await op(n++)
  const wallUs = Number(process.hrtime.bigint() - t0) / 1000 / n
  const cpu = process.cpuUsage(cpu0)
  return { wallUs, cpuUs: (cpu.user + cpu.system) / n }
}

const results = new Map(contestants.map((c) => [c.name, []]))
for (let r = 0; r < rounds; r++) {
  // rotate the order so no contestant always runs first (or right after the same one)
  for (let j = 0; j < contestants.length; j++) {
    const c = contestants[(r + j) % contestants.length]
    results.get(c.name).push(await slice(c))
  }
}
for (const c of contestants) await c.close()
await valkey?.stop()

const summary = contestants.map((c) => {
  const rs = results.get(c.name)
  return { name: c.name, wallUs: median(rs.map((x) => x.wallUs)), cpuUs: median(rs.map((x) => x.cpuUs)) }
})
const peer = summary.find((s) => s.name === 'node-redis')
console.log(
  `sequential ${args.op}, 1 caller, ${rounds} rounds × ${sliceMs} ms, medians (ratio: node-redis ÷ this, >1 = faster)`,
)
console.log('| client | wall µs/op | CPU µs/op | ops/s ratio | CPU ratio |')
console.log('| --- | --- | --- | --- | --- |')
for (const s of summary)
  console.log(
    `| ${s.name} | ${s.wallUs.toFixed(1)} | ${s.cpuUs.toFixed(1)} | ${(peer.wallUs / s.wallUs).toFixed(2)} | ${(peer.cpuUs / s.cpuUs).toFixed(2)} |`,
  )
