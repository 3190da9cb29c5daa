#!/usr/bin/env node
// ferrocache vs Valkey/Redis client peers, against ONE Valkey in ONE run.
//   node bench/run.mjs [--quick] [--rounds N] [--slice MS] [--only case[,case]] [--clients name[,name]] [--no-write]
// Uses VALKEY_URL when set, otherwise starts a throwaway Valkey with scripts/valkey.mjs.
import { parseArgs } from 'node:util'
import { CASES } from './cases.mjs'
import { measureMemory } from './memory.mjs'
import { makeClients } from './clients/index.mjs'
import {
  LatencyRecorder,
  WireMeter,
  collectGarbage,
  hostCpu,
  median,
  parseInfo,
  runFor,
  stealBetween,
  stealSummary,
} from './harness.mjs'
import {
  describeError,
  machineInfo,
  memoryLines,
  packageVersions,
  renderTables,
  summaryLine,
  writeResults,
} from './report.mjs'

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    rounds: { type: 'string' },
    slice: { type: 'string' },
    only: { type: 'string' },
    clients: { type: 'string' },
    'no-write': { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
})
if (args.help) {
  console.log(
    'usage: node bench/run.mjs [--quick] [--rounds N] [--slice MS] [--only case,...] [--clients name,...] [--no-write]\n' +
      `cases: ${CASES.map((c) => c.name).join(', ')}, memory\n` +
      `clients: ${makeClients()
        .map((c) => c.name)
        .join(', ')}`,
  )
  process.exit(0)
}
const options = {
  quick: args.quick,
  rounds: Number(args.rounds ?? (args.quick ? 3 : 5)),
  // stampede rounds are whole stampedes (fresh key each), not time slices: 3 unless --rounds is given
  stampedeRounds: Number(args.rounds ?? 3),
  sliceMs: Number(args.slice ?? (args.quick ? 300 : 1500)),
  warmupMs: args.quick ? 100 : 300,
}
if (!(options.rounds >= 1) || !(options.sliceMs > 0)) throw new Error('--rounds and --slice must be positive')
const list = (s) => (s ? s.split(',').map((x) => x.trim().toLowerCase()) : null)
const onlyCases = list(args.only)
const cases = CASES.filter((c) => !onlyCases || onlyCases.includes(c.name.toLowerCase()))
if (!cases.length && !onlyCases?.includes('memory'))
  throw new Error(`--only matched no case (cases: ${CASES.map((c) => c.name).join(', ')}, memory)`)
const onlyClients = list(args.clients)
const clients = makeClients().filter(
  (c) => c.kind === 'subject' || !onlyClients || onlyClients.some((n) => c.name.toLowerCase().includes(n)),
)

const log = (...a) => console.error(...a)
const withTimeout = (p, ms, what) =>
  Promise.race([
    p,
    new Promise((_, reject) =>
      setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms).unref(),
    ),
  ])

let valkey
let meta
async function cleanup() {
  for (const c of clients) {
    try {
      await withTimeout(Promise.resolve(c.close()), 5000, `closing ${c.name}`)
    } catch (e) {
      log(`warning: ${describeError(e)}`)
    }
  }
  if (meta) {
    await meta.unlinkAll?.().catch(() => {})
    await meta.redis.quit().catch(() => meta.redis.disconnect())
  }
  if (valkey) await valkey.stop().catch((e) => log(`warning: stopping valkey: ${describeError(e)}`))
  valkey = undefined
}
process.once('SIGINT', () => {
  log('interrupted, cleaning up')
  cleanup().finally(() => process.exit(130))
})

async function main() {
  let url = process.env.VALKEY_URL
  if (!url) {
    const { startValkey } = await import('../scripts/valkey.mjs').catch((e) => {
      throw e?.code === 'ERR_MODULE_NOT_FOUND' && /valkey\.mjs/.test(e.message)
        ? new Error('scripts/valkey.mjs not found: set VALKEY_URL=redis://host:port to use a running Valkey')
        : e
    })
    valkey = await startValkey()
    url = valkey.url
    log(`started valkey on port ${valkey.port}`)
  }

  // Dedicated connection for INFO (version, wire bytes) and the final cleanup of bench:* keys.
  const { Redis } = await import('ioredis')
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 })
  await redis.connect()
  meta = {
    redis,
    async unlinkAll() {
      let cursor = '0'
      do {
        const [next, keys] = await redis.scan(cursor, 'MATCH', 'bench:*', 'COUNT', 1000)
        if (keys.length) await redis.unlink(...keys)
        cursor = next
      } while (cursor !== '0')
    },
  }
  const machine = machineInfo(parseInfo(await redis.info('server')))
  const meter = new WireMeter((section) => redis.info(section))
  await meter.calibrate()
  log(`${machine.server} ${machine.valkey}, node ${machine.node}, ${machine.cpu} x${machine.cores}`)

  for (const c of clients) {
    try {
      await withTimeout(c.setup(url), 15_000, `${c.name} setup`)
      c.status = 'ok'
    } catch (e) {
      c.status = 'unavailable'
      c.reason = describeError(e)
      log(`${c.name}: unavailable: ${c.reason}`)
      await Promise.resolve(c.close()).catch(() => {})
    }
  }

  const recorder = new LatencyRecorder()
  // One timed run of `op`: warm-up, full GC, closed loop for the slice; returns the round's numbers.
  async function measure(op, concurrency, { sliceMs, warmupMs } = options) {
    const guard = sliceMs + 60_000
    await withTimeout(runFor(op, { concurrency, ms: warmupMs }), guard, 'warmup')
    collectGarbage()
    recorder.reset()
    await meter.start()
    const cpu0 = hostCpu()
    const { ops, seconds } = await withTimeout(
      runFor(op, { concurrency, ms: sliceMs, recorder }),
      guard,
      'run',
    )
    const steal = stealBetween(cpu0, hostCpu())
    const bytes = await meter.stop()
    const { p50, p99 } = recorder.percentiles()
    return { ops, seconds, opsPerSec: ops / seconds, p50, p99, bytesPerOp: bytes / ops, steal }
  }
  const blocks = []
  for (const kase of cases) {
    if (kase.run) {
      // Cases with their own structure (getorset-hit, stampede) run themselves and return blocks.
      log(`\n${kase.name}: ${kase.description}`)
      try {
        blocks.push(...(await kase.run({ url, clients, options, measure, log, blocks })))
      } catch (e) {
        log(`  ${kase.name}: ${describeError(e)}`)
      }
      for (const b of blocks.filter((x) => x.case === kase.name)) log(`  => ${summaryLine(b)}`)
      continue
    }
    for (const concurrency of kase.concurrency) {
      log(`\n${kase.name} c=${concurrency}: ${kase.description}`)
      const rows = clients.map((c) => ({
        client: c,
        name: c.name,
        kind: c.kind,
        status: c.status,
        reason: c.reason,
      }))
      for (const row of rows.filter((r) => r.status === 'ok')) {
        try {
          row.state = await withTimeout(kase.prepare(row.client), 120_000, 'prepare')
          row.op = kase.makeOp(row.client, row.state)
          row.rounds = []
        } catch (e) {
          row.status = 'error'
          row.reason = describeError(e)
          log(`  ${row.name}: ${row.reason}`)
        }
      }
      for (let r = 0; r < options.rounds; r++) {
        const live = rows.filter((x) => x.status === 'ok')
        const order = live.map((_, k) => live[(k + r) % live.length]) // rotate: ABAB… with no fixed position
        for (const row of order) {
          try {
            const m = await measure(row.op, concurrency)
            row.rounds.push(m)
            log(`  round ${r + 1} ${row.name}: ${Math.round(m.opsPerSec)} ops/s p50 ${m.p50.toFixed(1)} µs`)
          } catch (e) {
            row.status = 'error'
            row.reason = describeError(e)
            log(`  ${row.name}: ${row.reason}`)
          }
        }
      }
      const block = { case: kase.name, description: kase.description, concurrency, clients: [] }
      for (const row of rows) {
        const out = { name: row.name, kind: row.kind, status: row.status }
        if (row.status === 'ok') {
          for (const f of ['opsPerSec', 'p50', 'p99', 'bytesPerOp'])
            out[f] = median(row.rounds.map((x) => x[f]))
          out.rounds = row.rounds
        } else out.reason = row.reason
        block.clients.push(out)
      }
      const peers = block.clients.filter((c) => c.kind === 'peer' && c.status === 'ok')
      const best = peers.reduce((a, b) => (!a || b.opsPerSec > a.opsPerSec ? b : a), null)
      const subject = block.clients.find((c) => c.kind === 'subject' && c.status === 'ok')
      block.bestPeer = best ? { name: best.name, opsPerSec: best.opsPerSec } : null
      block.ratio = best && subject ? subject.opsPerSec / best.opsPerSec : null
      // Round r of ferrocache and of the best peer ran seconds apart (rounds rotate the clients):
      // the median of their per-round ratios is less exposed to a host that slows down for a
      // while than the ratio of medians.
      block.pairedRatio =
        best && subject ? median(subject.rounds.map((x, r) => x.opsPerSec / best.rounds[r]?.opsPerSec)) : null
      block.steal = stealSummary(rows.flatMap((x) => (x.rounds ?? []).map((m) => m.steal)))
      blocks.push(block)
      log(`  => ${summaryLine(block)}`)
    }
  }

  let memory
  if (!onlyCases || onlyCases.includes('memory')) {
    log('\nmemory: L1 bytes per cached key, RSS per connection (child processes)')
    try {
      memory = await measureMemory(url, clients, log)
    } catch (e) {
      log(`  memory: ${describeError(e)}`)
    }
  }
  const report = {
    date: new Date().toISOString(),
    options,
    machine,
    versions: await packageVersions(),
    wireOverheadBytes: meter.overhead,
    blocks,
    ...(memory ? { memory } : {}),
  }
  console.log(`\n${renderTables(blocks)}\n`)
  if (memory) console.log(`${memoryLines(memory).join('\n')}\n`)
  for (const b of blocks) console.log(summaryLine(b))
  if (!args['no-write']) {
    const files = await writeResults(report)
    log(`\nwrote ${files.join(', ')}`)
  }
}

let code = 0
try {
  await main()
} catch (e) {
  code = 1
  console.error(e)
} finally {
  await cleanup()
}
// Everything is closed above; if a client still holds the event loop open, do not hang.
process.exitCode = code
setTimeout(() => {
  log('warning: event loop still busy after cleanup, forcing exit')
  process.exit(code)
}, 3000).unref()
