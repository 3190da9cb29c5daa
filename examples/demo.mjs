// The demo: a tRPC-style workload (procedures keyed by input, a slow loader) run uncached and then
// through ferrocache. Uses VALKEY_URL when set, else starts a local Valkey, else runs memory-only.
import { Cache } from '../dist/index.mjs'

const sleep = (ms) => new Promise((r) => setTimeout(r, ms))
const LOADER_MS = 20
const REQUESTS = 2000
const CONCURRENCY = 32
const USERS = 50 // distinct inputs: the hit rate comes from repeats

async function valkeyUrl() {
  if (process.env.VALKEY_URL) return { url: process.env.VALKEY_URL, how: 'VALKEY_URL' }
  try {
    const { startValkey } = await import('../scripts/valkey.mjs')
    const server = await startValkey()
    return { url: server.url, how: 'a local Valkey started for this demo', stop: () => server.stop() }
  } catch (e) {
    return { url: undefined, how: `memory-only (no Valkey: ${e.message.split('\n')[0]})` }
  }
}

// The "procedure": a slow database read of a user's dashboard.
let dbCalls = 0
async function loadDashboard(userId) {
  dbCalls++
  await sleep(LOADER_MS)
  return {
    userId,
    name: `user ${userId}`,
    lastLogin: new Date(Date.UTC(2026, 0, (userId % 28) + 1)),
    tags: new Set(['a', 'b']),
  }
}

async function drive(label, call) {
  const latencies = []
  let next = 0
  const started = performance.now()
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < REQUESTS) {
        const i = next++
        const t0 = performance.now()
        const v = await call(i % USERS)
        latencies.push(performance.now() - t0)
        if (!(v.lastLogin instanceof Date) || !(v.tags instanceof Set)) throw new Error('types were lost')
      }
    }),
  )
  const secs = (performance.now() - started) / 1000
  latencies.sort((a, b) => a - b)
  const p = (q) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))].toFixed(2)
  console.log(
    `${label.padEnd(10)} ${String(Math.round(REQUESTS / secs)).padStart(7)} req/s   p50 ${p(0.5).padStart(6)} ms   p99 ${p(0.99).padStart(6)} ms   db calls ${dbCalls}`,
  )
}

const { url, how, stop } = await valkeyUrl()
console.log(`ferrocache demo — store: ${how}`)
console.log(
  `${REQUESTS} requests, ${CONCURRENCY} in flight, ${USERS} distinct inputs, loader ${LOADER_MS} ms\n`,
)
const cache = new Cache({ url, prefix: `demo:${process.pid}:` })

dbCalls = 0
await drive('uncached', (id) => loadDashboard(id))
dbCalls = 0
await drive('cached', (id) =>
  cache.getOrSet(`dashboard:${id}`, () => loadDashboard(id), { ttl: 60, grace: 300 }),
)

const s = cache.stats()
console.log(
  `\nhit rate ${(s.hitRate * 100).toFixed(1)}%  loads ${s.loads}  coalesced ${s.coalesced}  errors ${s.errors}`,
)
console.log(`health: ${JSON.stringify(await cache.health())}`)
await cache.clear()
await cache.close()
await stop?.()
