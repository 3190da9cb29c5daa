// Micro-benchmark of the JS value codec (ts/core/codec.ts) against plain JSON.stringify / JSON.parse.
//
//   node bench/codec-micro.mjs            # needs the repo's devDependencies (typescript) installed
//   node bench/codec-micro.mjs --runs 31  # more rounds (medians are reported)
//
// ts/core/codec.ts is transpiled in-process with the repo's TypeScript into a temporary folder, so the
// numbers are for the current source, not for a possibly stale dist/.
import { createRequire } from 'node:module'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import * as v8 from 'node:v8'
import { makeRecord, makePage } from './data.mjs'

const root = fileURLToPath(new URL('..', import.meta.url))
const require = createRequire(join(root, 'package.json'))
const runsArg = process.argv.indexOf('--runs')
const RUNS = runsArg > 0 ? Number(process.argv[runsArg + 1]) : 15
const RUN_MS = 40

function loadCodec() {
  const ts = require('typescript')
  const src = readFileSync(join(root, 'ts', 'core', 'codec.ts'), 'utf8')
  const out = ts.transpileModule(src, {
    compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, strict: true },
  })
  const dir = mkdtempSync(join(tmpdir(), 'ferrocache-codec-'))
  const file = join(dir, 'codec.js')
  writeFileSync(file, out.outputText)
  try {
    return createRequire(file)(file)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

const { structuredCodec } = loadCodec()
const structured = structuredCodec()

/** What the engine hands back: the payload inside a bigger chunk. */
function wire(data) {
  const body = typeof data === 'string' ? Buffer.from(data, 'utf8') : Buffer.from(data)
  const chunk = Buffer.concat([Buffer.alloc(16, 1), body, Buffer.alloc(16, 1)])
  return { chunk, start: 16, end: 16 + body.length }
}

let sink = 0
/** Runs `fn(i)` over `n` inputs for about `ms` and returns ns/op. */
function slice(fn, n, ms) {
  let ops = 0
  const t0 = process.hrtime.bigint()
  const limit = BigInt(ms * 1e6)
  let t1 = t0
  do {
    for (let i = 0; i < 64; i++) sink ^= fn((ops + i) % n) === undefined ? 1 : 0
    ops += 64
    t1 = process.hrtime.bigint()
  } while (t1 - t0 < limit)
  return Number(t1 - t0) / ops
}

const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1]

/**
 * ns/op of each function, median over RUNS rounds. The functions are interleaved within each
 * round so that noise from other processes hits them alike; ratios are medians of per-round ratios.
 */
function measureAll(fns, n) {
  const names = Object.keys(fns)
  const samples = Object.fromEntries(names.map((k) => [k, []]))
  for (const k of names) slice(fns[k], n, RUN_MS / 2) // warm-up
  for (let r = 0; r < RUNS; r++) for (const k of names) samples[k].push(slice(fns[k], n, RUN_MS))
  const ratio = (a, b) => median(samples[a].map((x, r) => x / samples[b][r]))
  return { ns: Object.fromEntries(names.map((k) => [k, median(samples[k])])), ratio }
}

function withSpecials(rec, i) {
  return {
    ...rec,
    createdAt: new Date(rec.createdAt),
    updatedAt: new Date(rec.updatedAt),
    shipment: { ...rec.shipment, eta: new Date(rec.shipment.eta) },
    seen: new Map([
      ['web', i],
      ['app', i + 1],
    ]),
  }
}

const N = 64
const cases = [
  ['order ~1 KB, JSON-safe', Array.from({ length: N }, (_, i) => makeRecord(i))],
  ['order ~1 KB, Dates + Map', Array.from({ length: N }, (_, i) => withSpecials(makeRecord(i), i))],
  ['page ~100 KB, JSON-safe', Array.from({ length: 4 }, (_, i) => makePage(i))],
]

const rows = []
const fmt = (x) => (x >= 100 ? x.toFixed(0) : x.toFixed(1))
for (const [name, values] of cases) {
  const n = values.length
  const enc = values.map((v) => structured.encode(v))
  const wires = enc.map((e) => wire(e.data))
  const jsonWires = values.map((v) => wire(JSON.stringify(v)))
  const isV8 = enc[0].codec !== 1

  const fns = {
    stringify: (i) => JSON.stringify(values[i]),
    encode: (i) => structured.encode(values[i]),
    parse: (i) => {
      const w = jsonWires[i]
      return JSON.parse(w.chunk.utf8Slice(w.start, w.end))
    },
    parseToString: (i) => {
      const w = jsonWires[i]
      return JSON.parse(w.chunk.toString('utf8', w.start, w.end))
    },
    decode: (i) => {
      const w = wires[i]
      return structured.decode(enc[i].codec, w.chunk, w.start, w.end)
    },
  }
  if (isV8) {
    fns.v8serialize = (i) => v8.serialize(values[i])
    fns.v8deserialize = (i) => {
      const w = wires[i]
      return v8.deserialize(w.chunk.subarray(w.start, w.end))
    }
  }
  const { ns, ratio } = measureAll(fns, n)
  const row = {
    case: name,
    'codec, bytes': `${isV8 ? 'V8' : 'JSON'} ${wires[0].end - wires[0].start}`,
    'JSON.stringify': fmt(ns.stringify),
    encode: fmt(ns.encode),
    'enc/stringify': ratio('encode', 'stringify').toFixed(2),
    'JSON.parse(utf8Slice)': fmt(ns.parse),
    'JSON.parse(toString)': fmt(ns.parseToString),
    decode: fmt(ns.decode),
    'dec/parse': ratio('decode', 'parse').toFixed(2),
  }
  if (isV8) {
    row['v8.serialize'] = fmt(ns.v8serialize)
    row['v8.deserialize'] = fmt(ns.v8deserialize)
    row['enc/v8.ser'] = ratio('encode', 'v8serialize').toFixed(2)
    row['dec/v8.deser'] = ratio('decode', 'v8deserialize').toFixed(2)
  }
  rows.push(row)
}

console.log(
  `node ${process.version}, ns/op, median of ${RUNS} interleaved rounds of ${RUN_MS} ms per function`,
)
console.log(
  'for the V8 case, the JSON columns are the same value made lossy by JSON (Dates as strings, Map as {})',
)
console.table(rows)
if (sink === 42) console.log('')
