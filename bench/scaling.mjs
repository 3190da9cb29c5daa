// The scaling curves: throughput and p99 of a cache-aside `get` hit as the work grows, for
// ferrocache and the two best peers of this run (by `get-1k` c=64 throughput; a short probe when
// that case did not run). Two sweeps: concurrency (1…256 callers, ~1 KB records) and value size
// (100 B…1 MB, 16 callers). Shorter rounds than the main cases: a sweep has 10 points × 3 clients.
import { isDeepStrictEqual } from 'node:util'
import { median, writePool as writeKeys } from './harness.mjs'
import { makePage, makeRecord, permutation } from './data.mjs'

export const CONCURRENCY = [1, 4, 16, 64, 256]
export const SIZES = [100, 1_000, 10_000, 100_000, 1_000_000]
const SIZE_CONCURRENCY = 16
/** Bytes of values per client and size (the pool: at least 4 keys, at most 1000). */
const POOL_BYTES = 8_000_000

export const sizeLabel = (b) => (b >= 1e6 ? `${b / 1e6} MB` : b >= 1e3 ? `${b / 1e3} KB` : `${b} B`)

/** A value whose JSON is about `bytes` long: a small line item, an order record, or a page of orders. */
function valueOf(bytes, i) {
  if (bytes <= 200) return { id: i, sku: `SKU-${1000 + (i % 9000)}`, qty: 1 + (i % 4), price: 9.99, ok: true }
  if (bytes <= 1_500) return makeRecord(i)
  return makePage(i, bytes)
}

async function writePool(client, ns, values) {
  const keys = await writeKeys(client, ns, values, 8)
  const last = await client.get(keys[keys.length - 1])
  if (!isDeepStrictEqual(last, values[values.length - 1])) throw new Error(`round trip mismatch in ${ns}`)
  return keys
}

const getOp = (client, keys) => {
  const order = permutation(keys.length)
  const n = keys.length
  return async (i) => {
    if ((await client.get(keys[order[i % n]])) == null) throw new Error(`unexpected miss in ${keys[0]}`)
  }
}

/** Peers ranked by this run's get-1k c=64 throughput, else by a short probe at c=16. */
async function bestPeers(clients, blocks, measure, timing, count = 2) {
  const peers = clients.filter((c) => c.kind === 'peer' && c.status === 'ok')
  const block = blocks.find((b) => b.case === 'get-1k' && b.concurrency === 64)
  const score = new Map()
  if (block) for (const c of block.clients) if (c.status === 'ok') score.set(c.name, c.opsPerSec)
  for (const p of peers.filter((x) => !score.has(x.name))) {
    const keys = await writePool(
      p,
      'scale-probe',
      Array.from({ length: 100 }, (_, i) => makeRecord(i)),
    )
    score.set(p.name, (await measure(getOp(p, keys), 16, timing)).opsPerSec)
  }
  return peers.sort((a, b) => (score.get(b.name) ?? 0) - (score.get(a.name) ?? 0)).slice(0, count)
}

/** One sweep: for each point, every client's medians over rounds (the client order rotates). */
async function sweep({ contenders, points, prepare, concurrencyOf, measure, timing, rounds, log, label }) {
  const series = contenders.map((c) => ({ name: c.name, kind: c.kind, points: [] }))
  for (const point of points) {
    const ops = []
    for (const c of contenders) {
      try {
        ops.push(await prepare(c, point))
      } catch (e) {
        ops.push(e)
      }
    }
    const rows = contenders.map(() => [])
    for (let r = 0; r < rounds; r++) {
      for (let k = 0; k < contenders.length; k++) {
        const j = (k + r) % contenders.length
        if (ops[j] instanceof Error) continue
        try {
          rows[j].push(await measure(ops[j], concurrencyOf(point), timing))
        } catch (e) {
          ops[j] = e
        }
      }
    }
    contenders.forEach((c, j) => {
      const ok = !(ops[j] instanceof Error) && rows[j].length > 0
      const m = (f) => (ok ? median(rows[j].map((x) => x[f])) : null)
      series[j].points.push({
        x: point,
        opsPerSec: m('opsPerSec'),
        p50: m('p50'),
        p99: m('p99'),
        ...(ok ? {} : { error: String(ops[j]?.message ?? 'not measured').split('\n')[0] }),
      })
    })
    log(
      `  ${label} ${label === 'size' ? sizeLabel(point) : point}: ` +
        series.map((s) => `${s.name} ${Math.round(s.points.at(-1).opsPerSec ?? NaN)} ops/s`).join(', '),
    )
  }
  return series
}

export const scalingCase = {
  name: 'scaling',
  description:
    'get hit throughput and p99 vs concurrency (1…256, ~1 KB) and vs value size (100 B…1 MB, c=16): ferrocache and the two best peers',
  async run({ clients, options, measure, log, blocks }) {
    const subject = clients.find((c) => c.kind === 'subject' && c.status === 'ok')
    if (!subject) return []
    const timing = { sliceMs: options.quick ? 200 : 600, warmupMs: options.quick ? 50 : 150 }
    const rounds = options.quick ? 1 : 3
    const peers = await bestPeers(clients, blocks, measure, timing)
    const contenders = [subject, ...peers]
    log(`  contenders: ${contenders.map((c) => c.name).join(', ')}`)
    const records = Array.from({ length: 1000 }, (_, i) => makeRecord(i))
    const pools = new Map()
    const concurrency = await sweep({
      contenders,
      points: CONCURRENCY,
      async prepare(c) {
        if (!pools.has(c)) pools.set(c, await writePool(c, 'scale-c', records))
        return getOp(c, pools.get(c))
      },
      concurrencyOf: (p) => p,
      measure,
      timing,
      rounds,
      log,
      label: 'c',
    })
    const size = await sweep({
      contenders,
      points: SIZES,
      async prepare(c, bytes) {
        const n = Math.max(4, Math.min(1000, Math.floor(POOL_BYTES / bytes)))
        const values = Array.from({ length: n }, (_, i) => valueOf(bytes, i))
        return getOp(c, await writePool(c, `scale-s${bytes}`, values))
      },
      concurrencyOf: () => SIZE_CONCURRENCY,
      measure,
      timing,
      rounds,
      log,
      label: 'size',
    })
    return [
      {
        type: 'scaling',
        case: 'scaling',
        description: this.description,
        rounds,
        sliceMs: timing.sliceMs,
        sizeConcurrency: SIZE_CONCURRENCY,
        concurrency: { x: CONCURRENCY, series: concurrency },
        size: { x: SIZES, series: size },
      },
    ]
  },
}
