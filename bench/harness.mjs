// Measurement primitives: timed closed-loop runs, latency recording, server-side wire bytes.
import { readFileSync } from 'node:fs'
import v8 from 'node:v8'
import vm from 'node:vm'

// A full GC between runs so one client's garbage is not collected during the next client's run.
v8.setFlagsFromString('--expose-gc')
const gc = vm.runInNewContext('gc')
export const collectGarbage = () => gc()

/** Per-op latencies in microseconds, in a preallocated buffer that only grows when it must. */
export class LatencyRecorder {
  constructor(capacity = 1 << 20) {
    this.buf = new Float64Array(capacity)
    this.n = 0
  }
  reset() {
    this.n = 0
  }
  push(us) {
    if (this.n === this.buf.length) {
      const bigger = new Float64Array(this.buf.length * 2)
      bigger.set(this.buf)
      this.buf = bigger
    }
    this.buf[this.n++] = us
  }
  /** Sorts the recorded slice in place and returns { p50, p99 } (nearest rank). */
  percentiles() {
    const s = this.buf.subarray(0, this.n).sort()
    const at = (q) => (s.length ? s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)] : NaN)
    return { p50: at(0.5), p99: at(0.99) }
  }
}

/**
 * Closed loop: `concurrency` async workers each await `op(i)` back to back until `ms` have passed.
 * Returns { ops, seconds }; when `recorder` is given every op's latency is recorded.
 */
export async function runFor(op, { concurrency, ms, recorder }) {
  const start = process.hrtime.bigint()
  const deadline = start + BigInt(Math.round(ms * 1e6))
  let next = 0
  let ops = 0
  const worker = async () => {
    for (;;) {
      const t0 = process.hrtime.bigint()
      if (t0 >= deadline) return
      await op(next++)
      if (recorder) recorder.push(Number(process.hrtime.bigint() - t0) / 1000)
      ops++
    }
  }
  const workers = []
  for (let w = 0; w < concurrency; w++) workers.push(worker())
  await Promise.all(workers)
  return { ops, seconds: Number(process.hrtime.bigint() - start) / 1e9 }
}

/** Parses an INFO reply into a flat { field: value } object. */
export function parseInfo(text) {
  const out = {}
  for (const line of String(text).split(/\r?\n/)) {
    const i = line.indexOf(':')
    if (i > 0 && !line.startsWith('#')) out[line.slice(0, i)] = line.slice(i + 1)
  }
  return out
}

/**
 * Server-side byte counter: total_net_input_bytes + total_net_output_bytes from INFO stats,
 * read over a dedicated connection. `calibrate()` measures what one before/after pair of INFO
 * calls adds by itself, which `delta()` subtracts.
 */
export class WireMeter {
  constructor(infoFn) {
    this.info = infoFn
    this.overhead = 0
  }
  async read() {
    const s = parseInfo(await this.info('stats'))
    return Number(s.total_net_input_bytes) + Number(s.total_net_output_bytes)
  }
  async calibrate() {
    let best = Infinity
    for (let k = 0; k < 5; k++) {
      const a = await this.read()
      const b = await this.read()
      best = Math.min(best, b - a)
    }
    this.overhead = best
    return best
  }
  async start() {
    this._start = await this.read()
  }
  async stop() {
    return Math.max(0, (await this.read()) - this._start - this.overhead)
  }
}

/**
 * The host's CPU counters (Linux /proc/stat, all cores, in clock ticks): `total` and `steal`, the
 * time the hypervisor ran something else while a vCPU wanted to run. null where /proc is missing.
 */
export function hostCpu() {
  try {
    const f = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0].trim().split(/\s+/).slice(1, 9).map(Number)
    return { total: f.reduce((a, b) => a + b, 0), steal: f[7] ?? 0 }
  } catch {
    return null
  }
}

/** The share of `a`→`b` the host stole (0..1), NaN when unknown. */
export const stealBetween = (a, b) =>
  a && b && b.total > a.total ? (b.steal - a.steal) / (b.total - a.total) : NaN

/** { median, max } of host steal shares (one per timed slice), or null when none was measured. */
export function stealSummary(shares) {
  const xs = shares.filter(Number.isFinite)
  return xs.length ? { median: median(xs), max: Math.max(...xs) } : null
}

export const median = (xs) => {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b)
  if (!s.length) return NaN
  const m = s.length >> 1
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2
}

/** Writes `values` under `<prefix><ns>:<i>` with `parallel` writers; returns the keys. */
export async function writePool(client, ns, values, parallel = 16) {
  const keys = values.map((_, i) => `${client.keyPrefix}${ns}:${i}`)
  let next = 0
  const worker = async () => {
    while (next < keys.length) {
      const i = next++
      await client.set(keys[i], values[i])
    }
  }
  await Promise.all(Array.from({ length: parallel }, worker))
  return keys
}
