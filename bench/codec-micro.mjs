// Micro-benchmark of the JS value codec (ts/codec.ts) against plain JSON.stringify / JSON.parse.
//
//   node bench/codec-micro.mjs            # needs the repo's devDependencies (typescript) installed
//   node bench/codec-micro.mjs --runs 9   # more runs (the median is reported)
//
// ts/codec.ts is transpiled in-process with the repo's TypeScript into a temporary folder, so the
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
const RUNS = runsArg > 0 ? Number(process.argv[runsArg + 1]) : 7
const RUN_MS = 150

function loadCodec() {
  const ts = require('typescript')
  const src = readFileSync(join(root, 'ts', 'codec.ts'), 'utf8')
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

const { structuredCodec, jsonCodec } = loadCodec()
const structured = structuredCodec()
const json = jsonCodec()

/** What the engine hands back: the payload inside a bigger chunk. */
function wire(data) {
  const body = typeof data === 'string' ? Buffer.from(data, 'utf8') : Buffer.from(data)
  const chunk = Buffer.concat([Buffer.alloc(16, 1), body, Buffer.alloc(16, 1)])
  return { chunk, start: 16, end: 16 + body.length }
}

let sink = 0
/** ns/op of `fn(i)` over `n` distinct inputs, median of RUNS time-boxed runs. */
function measure(fn, n) {
  const samples = []
  for (let r = 0; r < RUNS + 1; r++) {
    let ops = 0
    const t0 = process.hrtime.bigint()
    let t1 = t0
    const limit = BigInt(RUN_MS * 1e6)
    do {
      for (let i = 0; i < 256; i++) sink ^= fn((ops + i) % n) === undefined ? 1 : 0
      ops += 256
      t1 = process.hrtime.bigint()
    } while (t1 - t0 < limit)
    if (r > 0) samples.push(Number(t1 - t0) / ops) // run 0 is warm-up
  }
  samples.sort((a, b) => a - b)
  return samples[samples.length >> 1]
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
  const jsonText = values.map((v) => JSON.stringify(v))
  const jsonWires = jsonText.map((t) => wire(t))
  const codecName = enc[0].codec === 1 ? 'JSON' : 'V8'
  const bytes = wires[0].end - wires[0].start

  const stringify = measure((i) => JSON.stringify(values[i]), n)
  const encode = measure((i) => structured.encode(values[i]), n)
  const jsonEncode = measure((i) => json.encode(values[i]), n)
  const parse = measure((i) => {
    const w = jsonWires[i]
    return JSON.parse(w.chunk.utf8Slice(w.start, w.end))
  }, n)
  const parseToString = measure((i) => {
    const w = jsonWires[i]
    return JSON.parse(w.chunk.toString('utf8', w.start, w.end))
  }, n)
  const decode = measure((i) => {
    const w = wires[i]
    return structured.decode(enc[i].codec, w.chunk, w.start, w.end)
  }, n)
  let rawV8 = ''
  if (codecName === 'V8') {
    const ser = measure((i) => v8.serialize(values[i]), n)
    const de = measure((i) => {
      const w = wires[i]
      return v8.deserialize(w.chunk.subarray(w.start, w.end))
    }, n)
    rawV8 = `v8 raw: ${fmt(ser)} / ${fmt(de)}`
  }
  rows.push({
    case: name,
    codec: `${codecName} ${bytes} B`,
    'JSON.stringify': fmt(stringify),
    encode: fmt(encode),
    'enc ratio': (encode / stringify).toFixed(2),
    'json codec enc': fmt(jsonEncode),
    'JSON.parse(utf8Slice)': fmt(parse),
    'JSON.parse(toString)': fmt(parseToString),
    decode: fmt(decode),
    'dec ratio': (decode / parse).toFixed(2),
    note: rawV8,
  })
}

console.log(`node ${process.version}, ns/op, median of ${RUNS} runs of ${RUN_MS} ms (ratios vs plain JSON)`)
console.table(rows)
if (sink === 42) console.log('')
