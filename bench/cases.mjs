// Benchmark cases. A case is
//   { name, description, concurrency: number[], prepare(client) → state, makeOp(client, state) → (i) → Promise }
// `prepare` writes the case's key pool with the client's own format (peers: JSON strings with
// SET … PX; ferrocache: cache.set with its default codec) and checks one round trip.
// `makeOp` returns the timed operation; `i` is a global op counter used to walk the key pool.
// A case that does not compare clients op for op has `run(ctx)` instead, returning its report blocks;
// ctx = { url, clients, options, measure(op, concurrency) → round, log }.
import { isDeepStrictEqual } from 'node:util'
import { median, writePool } from './harness.mjs'
import { makePage, makeRecord, permutation } from './data.mjs'
import { scalingCase } from './scaling.mjs'
import { runStampede } from './stampede.mjs'

const lazy = (fn) => {
  let v
  return () => (v ??= fn())
}
const records = lazy(() => Array.from({ length: 1000 }, (_, i) => makeRecord(i)))
const pages = lazy(() => Array.from({ length: 100 }, (_, i) => makePage(i)))

async function checkRoundTrip(client, key, expected) {
  const got = await client.get(key)
  if (!isDeepStrictEqual(got, expected)) {
    throw new Error(`round trip mismatch on ${key}: got ${JSON.stringify(got)?.slice(0, 80)}`)
  }
}

/** `count` batches of `size` distinct indexes in [0, n), deterministic. */
function batches(n, size, count) {
  const out = []
  for (let b = 0; out.length < count; b++) {
    const p = permutation(n, 1000 + b)
    for (let s = 0; s + size <= n && out.length < count; s += size) out.push(p.slice(s, s + size))
  }
  return out
}

const countOf = (res) => (Array.isArray(res) ? res.filter((v) => v != null).length : (res?.size ?? 0))

function getCase(name, description, values, concurrency) {
  return {
    name,
    description,
    concurrency,
    async prepare(client) {
      const keys = await writePool(client, name, values())
      await checkRoundTrip(client, keys[keys.length - 1], values()[keys.length - 1])
      return { keys, order: permutation(keys.length) }
    },
    makeOp(client, { keys, order }) {
      const n = keys.length
      return async (i) => {
        const v = await client.get(keys[order[i % n]])
        if (v == null) throw new Error(`unexpected miss on ${keys[order[i % n]]}`)
      }
    },
  }
}

export const CASES = [
  getCase(
    'get-1k',
    'cache-aside hit: GET one ~1 KB order record and decode it (pool of 1000 keys)',
    records,
    [1, 64],
  ),
  getCase(
    'get-100k',
    'cache-aside hit: GET one ~100 KB page of ~100 orders and decode it (pool of 100 keys)',
    pages,
    [1, 64],
  ),
  {
    name: 'getMany-100',
    description: '100 keys of ~1 KB per call, decoded (peers: MGET + JSON.parse)',
    concurrency: [1, 16],
    async prepare(client) {
      const keys = await writePool(client, 'many', records())
      await checkRoundTrip(client, keys[0], records()[0])
      const sample = await client.getMany(keys.slice(0, 100))
      if (countOf(sample) !== 100) throw new Error(`getMany returned ${countOf(sample)} of 100 values`)
      return { batches: batches(keys.length, 100, 100).map((b) => b.map((k) => keys[k])) }
    },
    makeOp(client, { batches }) {
      return async (i) => {
        const res = await client.getMany(batches[i % batches.length])
        if (countOf(res) !== 100) throw new Error(`getMany returned ${countOf(res)} of 100 values`)
      }
    },
  },
  {
    name: 'setMany-100',
    description: '100 keys of ~1 KB per call with a TTL (peers: pipeline of SET PX + JSON.stringify)',
    concurrency: [1, 16],
    async prepare(client) {
      const recs = records()
      const keys = recs.map((_, i) => `${client.keyPrefix}setmany:${i}`)
      const list = batches(keys.length, 100, 50).map((b) => b.map((k) => ({ key: keys[k], value: recs[k] })))
      await client.setMany(list[0])
      await checkRoundTrip(client, list[0][0].key, list[0][0].value)
      return { batches: list }
    },
    makeOp(client, { batches }) {
      return (i) => client.setMany(batches[i % batches.length])
    },
  },
  {
    // ferrocache against itself: what getOrSet adds over get when the key is there.
    name: 'getorset-hit',
    description:
      'ferrocache getOrSet on a hit vs get on a hit: the ~1 KB records of get-1k, pool of 1000 keys (loader never runs)',
    concurrency: [1, 64],
    async run({ clients, options, measure, log }) {
      const client = clients.find((c) => c.kind === 'subject')
      const variants = [
        { name: 'ferrocache get', kind: 'baseline' },
        { name: 'ferrocache getOrSet', kind: 'subject' },
      ]
      // ratio: median over rounds of getOrSet ops/s ÷ get ops/s in the same round (the two run back to
      // back, so each pair sees the same machine noise); ratioOfMedians is the other cases' definition.
      const blockFor = (concurrency, rows) => {
        const [get, gos] = rows
        const both = get.status === 'ok' && gos.status === 'ok'
        const ratio = both ? median(gos.rounds.map((x, r) => x.opsPerSec / get.rounds[r].opsPerSec)) : null
        const ratioOfMedians = both ? gos.opsPerSec / get.opsPerSec : null
        return {
          type: 'getorset-hit',
          case: 'getorset-hit',
          description: this.description,
          concurrency,
          clients: rows,
          ratio,
          ratioOfMedians,
          target: 1 / 1.1,
        }
      }
      const failAll = (reason) =>
        this.concurrency.map((c) =>
          blockFor(
            c,
            variants.map((v) => ({ ...v, status: 'error', reason })),
          ),
        )
      if (client?.status !== 'ok') return failAll(`ferrocache ${client?.reason ?? 'not available'}`)
      const keys = await writePool(client, 'getorset-hit', records())
      await checkRoundTrip(client, keys[keys.length - 1], records()[keys.length - 1])
      const order = permutation(keys.length)
      const n = keys.length
      let loads = 0
      const loader = () => {
        loads++
        return records()[0]
      }
      const opts = { ttl: 300 }
      const ops = {
        'ferrocache get': async (i) => {
          const v = await client.get(keys[order[i % n]])
          if (v == null) throw new Error(`unexpected miss on ${keys[order[i % n]]}`)
        },
        // a fresh loader closure per call, as in application code: getOrSet(key, () => db.find(id))
        'ferrocache getOrSet': async (i) => {
          const v = await client.getOrSet(keys[order[i % n]], () => loader(), opts)
          if (v == null) throw new Error(`unexpected null on ${keys[order[i % n]]}`)
        },
      }
      const blocks = []
      for (const concurrency of this.concurrency) {
        log(`  c=${concurrency}`)
        const rows = variants.map((v) => ({ ...v, status: 'ok', rounds: [] }))
        for (let r = 0; r < options.rounds; r++) {
          const order = rows.map((_, k) => rows[(k + r) % rows.length])
          for (const row of order) {
            if (row.status !== 'ok') continue
            try {
              const m = await measure(ops[row.name], concurrency)
              row.rounds.push(m)
              log(`  round ${r + 1} ${row.name}: ${Math.round(m.opsPerSec)} ops/s p50 ${m.p50.toFixed(1)} µs`)
            } catch (e) {
              row.status = 'error'
              row.reason = String(e?.message ?? e).split('\n')[0]
              log(`  ${row.name}: ${row.reason}`)
            }
          }
        }
        if (loads) {
          for (const row of rows)
            Object.assign(row, { status: 'error', reason: `loader ran ${loads}× on hits` })
        }
        for (const row of rows) {
          if (row.status !== 'ok') continue
          for (const f of ['opsPerSec', 'p50', 'p99', 'bytesPerOp'])
            row[f] = median(row.rounds.map((x) => x[f]))
        }
        blocks.push(blockFor(concurrency, rows))
      }
      return blocks
    },
  },
  scalingCase,
  {
    name: 'stampede',
    description:
      '500 concurrent getOrSet-style calls on one cold key, 50 ms loader; 1 process and 4 processes ' +
      '(ferrocache getOrSet, bentocache getOrSet L2-only, ioredis cache-aside)',
    async run({ url, options, log }) {
      return [await runStampede(url, { rounds: options.stampedeRounds, log })]
    },
  },
]
