#!/usr/bin/env node
// ferrocache/next vs @fortedigital/nextjs-cache-handler (its Redis strings handler, node-redis
// client), against ONE Valkey, in one run:
// (a) revalidateTag of a tag carried by 1,000 / 10,000 / 100,000 entries (each entry also has a tag
//     of its own): the time of the one call (median of --rounds fresh populations per size).
// (b) get throughput of a cached page entry (APP_PAGE with Buffers and a Map, tagged like a real page)
//     through each handler, 64 concurrent callers, all hits; ratio ferrocache / fortedigital.
//   node bench/next-handlers.mjs [--sizes 1000,10000,100000] [--rounds 3] [--slice MS]
// Uses VALKEY_URL when set, otherwise starts a throwaway Valkey.
import { parseArgs } from 'node:util'
import { collectGarbage, median, runFor } from './harness.mjs'

const { values: args } = parseArgs({
  options: {
    sizes: { type: 'string', default: '1000,10000,100000' },
    rounds: { type: 'string', default: '3' },
    slice: { type: 'string', default: '3000' },
  },
})
const SIZES = args.sizes.split(',').map(Number)
const ROUNDS = Number(args.rounds)
const SLICE = Number(args.slice)
const CONCURRENCY = 64
const WRITE_CONCURRENCY = 64

let url = process.env.VALKEY_URL
let stopValkey = async () => {}
if (!url) {
  const { startValkey } = await import('../scripts/valkey.mjs')
  const server = await startValkey()
  url = server.url
  stopValkey = () => server.stop()
}

const { createCacheHandler } = await import('../dist/next.mjs')
const { createClient } = await import('redis')
const { default: createFortedigital } = await import('@fortedigital/nextjs-cache-handler/redis-strings')

const fetchValue = (i) => ({
  kind: 'FETCH',
  data: {
    headers: { 'content-type': 'application/json' },
    body: `{"i":${i}}`,
    status: 200,
    url: `http://api/${i}`,
  },
  revalidate: 3600,
  tags: ['shared', `own:${i}`],
})
const pageValue = {
  kind: 'APP_PAGE',
  html: '<html><body>' + 'x'.repeat(2000) + '</body></html>',
  rscData: Buffer.alloc(1500, 7),
  headers: { 'x-next-cache-tags': '_N_T_/layout,_N_T_/blog/page,_N_T_/blog,posts' },
  postponed: undefined,
  status: 200,
  segmentData: new Map([['/_tree', Buffer.alloc(200, 1)]]),
}

async function inParallel(n, op) {
  let next = 0
  const worker = async () => {
    while (next < n) await op(next++)
  }
  await Promise.all(Array.from({ length: Math.min(WRITE_CONCURRENCY, n) }, worker))
}

async function flush(client) {
  await client.sendCommand(['FLUSHALL'])
}

const admin = createClient({ url })
await admin.connect()

// ---- the two handlers ---------------------------------------------------------------------------
const Ferro = createCacheHandler({ url, prefix: 'bench-next:' })
const ferro = new Ferro()
const fdClient = createClient({ url })
await fdClient.connect()
const forte = createFortedigital({ client: fdClient, keyPrefix: 'bench-forte:', timeoutMs: 120_000 })

const handlers = {
  ferrocache: {
    set: (key, value, tags) =>
      ferro.set(key, value, { tags, cacheControl: { revalidate: 3600, expire: 86400 } }),
    get: (key) => ferro.get(key, { kind: 'APP_PAGE' }),
    revalidateTag: (tag) => ferro.revalidateTag(tag),
  },
  '@fortedigital/nextjs-cache-handler': {
    set: (key, value, tags) => forte.set(key, { value, lastModified: Date.now(), tags, lifespan: null }, {}),
    get: (key) => forte.get(key, { implicitTags: [] }),
    revalidateTag: (tag) => forte.revalidateTag(tag),
  },
}

// ---- (a) revalidateTag ---------------------------------------------------------------------------
const revalidate = {}
for (const size of SIZES) {
  for (const [name, h] of Object.entries(handlers)) {
    const times = []
    for (let r = 0; r < ROUNDS; r++) {
      await flush(admin)
      await inParallel(size, (i) => h.set(`/e/${i}`, fetchValue(i), ['shared', `own:${i}`]))
      collectGarbage()
      const t0 = process.hrtime.bigint()
      await h.revalidateTag('shared')
      times.push(Number(process.hrtime.bigint() - t0) / 1e6)
    }
    // The entry is gone (or stale) for both.
    const after = await h.get('/e/0')
    if (after !== null && after !== undefined && name === 'ferrocache')
      throw new Error('ferrocache entry survived')
    ;(revalidate[size] ??= {})[name] = median(times)
    console.log(`revalidateTag, ${size} tagged entries, ${name}: ${median(times).toFixed(2)} ms`)
  }
}

// ---- (b) get throughput ------------------------------------------------------------------------
await flush(admin)
const pageKeys = Array.from({ length: 100 }, (_, i) => `/blog/${i}`)
const gets = {}
for (const [name, h] of Object.entries(handlers)) {
  for (const k of pageKeys) await h.set(k, pageValue, ['posts'])
  const hit = await h.get(pageKeys[0])
  if (!hit || !hit.value) throw new Error(`${name}: no hit`)
}
for (let r = 0; r < ROUNDS; r++) {
  for (const [name, h] of Object.entries(handlers)) {
    collectGarbage()
    const { ops, seconds } = await runFor((i) => h.get(pageKeys[i % pageKeys.length]), {
      concurrency: CONCURRENCY,
      ms: SLICE,
    })
    ;(gets[name] ??= []).push(ops / seconds)
  }
}

const F = 'ferrocache'
const D = '@fortedigital/nextjs-cache-handler'
console.log('\n| tagged entries | ferrocache revalidateTag | @fortedigital revalidateTag | ratio |')
console.log('| --- | --- | --- | --- |')
for (const size of SIZES) {
  const f = revalidate[size][F]
  const d = revalidate[size][D]
  console.log(
    `| ${size.toLocaleString('en')} | ${f.toFixed(2)} ms | ${d.toFixed(2)} ms | ${(d / f).toFixed(1)}× faster |`,
  )
}
const gf = median(gets[F])
const gd = median(gets[D])
console.log(`\n| handler get (cached APP_PAGE, ${CONCURRENCY} callers) | ops/s |`)
console.log('| --- | --- |')
console.log(`| ferrocache | ${Math.round(gf).toLocaleString('en')} |`)
console.log(`| @fortedigital/nextjs-cache-handler | ${Math.round(gd).toLocaleString('en')} |`)
console.log(`| ratio | ${(gf / gd).toFixed(2)}× |`)

await Promise.all([admin.quit(), fdClient.quit()])
await stopValkey()
process.exit(0)
