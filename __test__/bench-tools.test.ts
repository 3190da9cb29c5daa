/** The benchmark tools' own logic (bench/): what their reports compute, and their command lines. */
import { execFileSync } from 'node:child_process'
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import { describe, expect, it } from 'vitest'

const BENCH = path.join(__dirname, '..', 'bench')

type Cpu = { total: number; steal: number } | null
type Harness = {
  hostCpu(): Cpu
  stealBetween(a: Cpu, b: Cpu): number
  stealSummary(shares: number[]): { median: number; max: number } | null
}
type Report = { readmeSection(report: unknown): string }

// A module path held in a variable: plain JS, loaded as it is, without type declarations.
const load = async <T>(file: string): Promise<T> =>
  (await import(pathToFileURL(path.join(BENCH, file)).href)) as T

describe('bench tools', () => {
  it('host steal: the share of the CPU time between two readings, NaN when unknown', async () => {
    const h = await load<Harness>('harness.mjs')
    expect(h.stealBetween({ total: 100, steal: 5 }, { total: 300, steal: 55 })).toBeCloseTo(0.25)
    expect(h.stealBetween(null, { total: 1, steal: 0 })).toBeNaN()
    expect(h.stealBetween({ total: 5, steal: 0 }, { total: 5, steal: 0 })).toBeNaN()
    expect(h.stealSummary([0.1, NaN, 0.3, 0.2])).toEqual({ median: 0.2, max: 0.3 })
    expect(h.stealSummary([NaN])).toBeNull()
    if (process.platform === 'linux') {
      const a = h.hostCpu()
      expect(a?.total).toBeGreaterThan(0)
      expect(a?.steal).toBeGreaterThanOrEqual(0)
    }
  })

  it('the README table shows the per-round pairs and the host steal of each case', async () => {
    const { readmeSection } = await load<Report>('report.mjs')
    const block = {
      case: 'get-1k',
      concurrency: 64,
      clients: [
        { kind: 'subject', status: 'ok', name: 'ferrocache', opsPerSec: 300, p50: 10 },
        { kind: 'peer', status: 'ok', name: 'node-redis', opsPerSec: 200, p50: 20 },
      ],
      bestPeer: { name: 'node-redis', opsPerSec: 200 },
      ratio: 1.5,
      pairedRatio: 1.25,
      steal: { median: 0.123, max: 0.4 },
    }
    const machine = { cpu: 'cpu', cores: 2, node: 'v20', server: 'valkey', valkey: '9' }
    const text = readmeSection({
      machine,
      options: { rounds: 5, sliceMs: 1500 },
      versions: {},
      date: '2026-12-03',
      blocks: [block],
    })
    expect(text).toContain('| get-1k | 64 | 300 | node-redis | 200 | 1.50× | 1.25× | 10.0 · 20.0 | 12% |')
  })

  it('bench/trpc.mjs --help prints its usage and exits 0', () => {
    const out = execFileSync(process.execPath, [path.join(BENCH, 'trpc.mjs'), '--help'], { encoding: 'utf8' })
    expect(out).toMatch(/^usage: node bench\/trpc\.mjs/)
  })
})
