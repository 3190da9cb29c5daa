#!/usr/bin/env node
// Cache stampede: CALLS concurrent calls on one COLD key whose loader takes LOADER_MS, in 1 process and
// in 4 processes that start at one shared wall-clock instant. Counts loader calls (INCR on a counter key
// in Valkey, so it counts across processes) and the wall time from the shared start until the last
// caller got its value. Contestants: ferrocache getOrSet, bentocache getOrSet (L2 only, redis driver),
// naive ioredis cache-aside (GET; on a miss run the loader, then SET).
//   node bench/stampede.mjs [--rounds N]        standalone: prints the table, writes nothing
//   node bench/run.mjs --only stampede          the same case inside the main report (bench/results/)
// Uses VALKEY_URL when set, otherwise starts a throwaway Valkey with scripts/valkey.mjs.
// Every process, the single-process one too, is a child started with child_process.fork; the parent
// only coordinates (IPC) and reads the counters. Clients connect and warm up once per child, before
// the first round, so connection set-up is not measured.
import { fork } from 'node:child_process'
import { performance } from 'node:perf_hooks'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { parseArgs } from 'node:util'
import { median } from './harness.mjs'

export const CALLS = 500
export const LOADER_MS = 50
export const PROCESS_COUNTS = [1, 4]
export const CONTESTANTS = ['ferrocache', 'bentocache', 'ioredis cache-aside']
const TTL_SECONDS = 300
const LEAD_MS = 300 // the shared start is this far after the parent sends the trial
const TRIAL_TIMEOUT_MS = 30_000
const SELF = fileURLToPath(import.meta.url)

/** Wall clock with sub-millisecond resolution, comparable across processes on one machine. */
const now = () => performance.timeOrigin + performance.now()
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

// ---------------------------------------------------------------------------------------------------
// Child: one process of a stampede. Sets up every contestant once, then runs trials on request.
// ---------------------------------------------------------------------------------------------------
async function child(url) {
  const { collectGarbage } = await import('./harness.mjs')
  const { makeRecord } = await import('./data.mjs')
  const { parseUrl } = await import('./clients/common.mjs')
  const { Cache } = await import('../dist/index.mjs')
  const { Redis } = await import('ioredis')
  const { BentoCache, bentostore } = await import('bentocache')
  const { redisDriver } = await import('bentocache/drivers/redis')

  const value = makeRecord(7)
  const { host, port, username, password, db } = parseUrl(url)
  const counter = new Redis(url, { maxRetriesPerRequest: 1 })
  const naive = new Redis(url, { maxRetriesPerRequest: 1 })
  const cache = new Cache({ url, prefix: 'bench:' })
  const bento = new BentoCache({
    default: 'cache',
    prefix: 'bench:stampede-bento',
    stores: {
      cache: bentostore().useL2Layer(
        redisDriver({ connection: { host, port, username, password, db, maxRetriesPerRequest: 1 } }),
      ),
    },
  })

  // The loader every contestant runs: count the call in Valkey, then take LOADER_MS.
  const loaderFor = (counterKey) => async () => {
    await counter.incr(counterKey)
    await sleep(LOADER_MS)
    return value
  }
  const run = {
    ferrocache: (key, counterKey) =>
      cache.getOrSet(`stampede:${key}`, loaderFor(counterKey), { ttl: TTL_SECONDS, lockTtlMs: 5000 }),
    bentocache: (key, counterKey) =>
      bento.getOrSet({ key, factory: loaderFor(counterKey), ttl: TTL_SECONDS * 1000 }),
    'ioredis cache-aside': async (key, counterKey) => {
      const k = `bench:stampede-naive:${key}`
      const hit = await naive.get(k)
      if (hit !== null) return JSON.parse(hit)
      const v = await loaderFor(counterKey)()
      await naive.set(k, JSON.stringify(v), 'PX', TTL_SECONDS * 1000)
      return v
    },
  }

  // Warm-up: connections up, ferrocache's pub/sub subscription made, code paths compiled.
  const warm = `warmup:${process.pid}`
  for (const [name, fn] of Object.entries(run)) {
    for (let i = 0; i < 3; i++) {
      const got = await fn(`${warm}:${i}`, `bench:stampede-count:warmup:${process.pid}`)
      if (got?.id !== value.id) throw new Error(`${name}: warm-up returned a wrong value`)
    }
  }
  await counter.del(`bench:stampede-count:warmup:${process.pid}`)
  for (let i = 0; i < 3; i++) {
    await cache.delete(`stampede:${warm}:${i}`)
    await bento.delete({ key: `${warm}:${i}` })
    await naive.del(`bench:stampede-naive:${warm}:${i}`)
  }

  const close = async () => {
    await Promise.allSettled([
      cache.close(),
      bento.disconnectAll(),
      counter.quit().catch(() => counter.disconnect()),
      naive.quit().catch(() => naive.disconnect()),
    ])
  }

  process.on('message', async (msg) => {
    if (msg.type === 'exit') {
      await close()
      process.exit(0)
    }
    if (msg.type !== 'trial') return
    const { contestant, key, counterKey, calls, startAt } = msg
    const fn = run[contestant]
    const before = cache.stats()
    collectGarbage()
    // Sleep until the shared instant; spin only over the last timer tick (no busy cores meanwhile:
    // 4 spinning children on 2 cores would delay each other).
    const wait = startAt - now()
    if (wait > 0) await sleep(wait)
    while (now() < startAt);
    const late = now() - startAt
    let ok = 0
    let errors = 0
    let firstError
    const check = (v) => {
      if (v?.id === value.id) ok++
      else {
        errors++
        firstError ??= `wrong value: ${JSON.stringify(v)?.slice(0, 60)}`
      }
    }
    const fail = (e) => {
      errors++
      firstError ??= String(e?.message ?? e).split('\n')[0]
    }
    const pending = []
    for (let i = 0; i < calls; i++) pending.push(fn(key, counterKey).then(check, fail))
    await Promise.all(pending)
    const endAt = now()
    const after = cache.stats()
    const stats = {}
    for (const f of ['loads', 'coalesced', 'lockWaits']) stats[f] = after[f] - before[f]
    process.send({ type: 'done', endAt, late, ok, errors, firstError, stats })
  })
  process.send({ type: 'ready' })
}

// ---------------------------------------------------------------------------------------------------
// Parent: start the children, run the rounds, collect the numbers.
// ---------------------------------------------------------------------------------------------------
function startChild(url) {
  const proc = fork(SELF, ['--child', url], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  let waiting = null
  let dead = null
  proc.on('message', (m) => {
    const w = waiting
    waiting = null
    if (m.type === 'error') w?.reject(new Error(m.message))
    else w?.resolve(m)
  })
  proc.on('exit', (code, signal) => {
    dead = new Error(`stampede child exited (${signal ?? code})`)
    waiting?.reject(dead)
    waiting = null
  })
  const next = (ms, what) =>
    new Promise((resolve, reject) => {
      if (dead) return reject(dead)
      const timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms)
      waiting = {
        resolve: (m) => (clearTimeout(timer), resolve(m)),
        reject: (e) => (clearTimeout(timer), reject(e)),
      }
    })
  return {
    proc,
    ready: next(30_000, 'stampede child start-up'),
    request(msg) {
      const p = next(TRIAL_TIMEOUT_MS, `${msg.contestant} trial`)
      proc.send(msg)
      return p
    },
    async stop() {
      if (dead || !proc.connected) return
      const exited = new Promise((r) => proc.once('exit', r))
      proc.send({ type: 'exit' })
      const timer = setTimeout(() => proc.kill(), 5000)
      await exited
      clearTimeout(timer)
    },
  }
}

/**
 * Runs the stampede: for each process count, `rounds` rounds, each with every contestant (rotating
 * order) on a fresh key. Returns one report block.
 */
export async function runStampede(url, { rounds = 3, log = () => {} } = {}) {
  const { Redis } = await import('ioredis')
  const redis = new Redis(url, { maxRetriesPerRequest: 1 })
  const runId = `${process.pid}-${Date.now().toString(36)}`
  const maxProcs = Math.max(...PROCESS_COUNTS)
  const children = Array.from({ length: maxProcs }, () => startChild(url))
  const results = []
  try {
    await Promise.all(children.map((c) => c.ready))
    for (const processes of PROCESS_COUNTS) {
      const rows = CONTESTANTS.map((name) => ({ name, processes, status: 'ok', rounds: [] }))
      for (let r = 0; r < rounds; r++) {
        const order = rows.map((_, k) => rows[(k + r) % rows.length])
        for (const row of order) {
          if (row.status !== 'ok') continue
          const slug = row.name.replace(/[^a-z]+/g, '-')
          const key = `${runId}:${slug}:${processes}p:r${r}`
          const counterKey = `bench:stampede-count:${key}`
          const startAt = now() + LEAD_MS
          const per = CALLS / processes
          try {
            const replies = await Promise.all(
              children
                .slice(0, processes)
                .map((c) =>
                  c.request({ type: 'trial', contestant: row.name, key, counterKey, calls: per, startAt }),
                ),
            )
            const loaderCalls = Number((await redis.get(counterKey)) ?? 0)
            const wallMs = Math.max(...replies.map((m) => m.endAt)) - startAt
            const lateMs = Math.max(...replies.map((m) => m.late))
            const errors = replies.reduce((s, m) => s + m.errors, 0)
            const ok = replies.reduce((s, m) => s + m.ok, 0)
            const stats = {}
            if (row.name === 'ferrocache')
              for (const f of ['loads', 'coalesced', 'lockWaits'])
                stats[f] = replies.reduce((s, m) => s + m.stats[f], 0)
            const round = {
              loaderCalls,
              wallMs,
              lateMs,
              ok,
              errors,
              ...(row.name === 'ferrocache' && { stats }),
            }
            if (errors) round.firstError = replies.find((m) => m.firstError)?.firstError
            row.rounds.push(round)
            log(
              `  round ${r + 1} ${row.name} ×${processes}p: ${loaderCalls} loader calls, ${wallMs.toFixed(1)} ms` +
                (errors ? `, ${errors} errors (${round.firstError})` : '') +
                (lateMs > 5 ? ` (a child started ${lateMs.toFixed(1)} ms late)` : ''),
            )
          } catch (e) {
            row.status = 'error'
            row.reason = String(e?.message ?? e).split('\n')[0]
            log(`  ${row.name} ×${processes}p: ${row.reason}`)
          }
          await sleep(50)
        }
      }
      for (const row of rows) {
        if (row.status === 'ok') {
          row.loaderCalls = median(row.rounds.map((x) => x.loaderCalls))
          row.wallMs = median(row.rounds.map((x) => x.wallMs))
          row.errors = row.rounds.reduce((s, x) => s + x.errors, 0)
        }
        results.push(row)
      }
    }
  } finally {
    await Promise.allSettled(children.map((c) => c.stop()))
    // This case's keys (run.mjs also unlinks every bench:* key at the end).
    let cursor = '0'
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `bench:stampede*${runId}*`, 'COUNT', 1000)
      if (keys.length) await redis.unlink(...keys)
      cursor = next
    } while (cursor !== '0')
    await redis.quit().catch(() => redis.disconnect())
  }
  return stampedeBlock(results, rounds)
}

/** The report block, with the targets evaluated. */
export function stampedeBlock(results, rounds) {
  const find = (name, p) => results.find((x) => x.name === name && x.processes === p && x.status === 'ok')
  const fc = PROCESS_COUNTS.map((p) => find('ferrocache', p))
  const bento1 = find('bentocache', 1)
  const allOne = fc.every((r) => r && r.rounds.every((x) => x.loaderCalls === 1 && x.errors === 0))
  const budget = bento1 ? bento1.wallMs + 20 : NaN
  const worstFc = fc.every(Boolean) ? Math.max(...fc.map((r) => r.wallMs)) : NaN
  return {
    type: 'stampede',
    case: 'stampede',
    description:
      `${CALLS} concurrent calls on one cold key, ${LOADER_MS} ms loader counted with INCR in Valkey; ` +
      `1 process, and ${Math.max(...PROCESS_COUNTS)} processes starting at one wall-clock instant`,
    calls: CALLS,
    loaderMs: LOADER_MS,
    rounds,
    results,
    targets: {
      ferrocacheSingleLoad: { met: allOne },
      ferrocacheWall: {
        budgetMs: budget,
        worstFerrocacheMs: worstFc,
        met: Number.isFinite(budget) && Number.isFinite(worstFc) ? worstFc <= budget : null,
      },
    },
  }
}

// ---------------------------------------------------------------------------------------------------
// Standalone entry.
// ---------------------------------------------------------------------------------------------------
async function main() {
  const { values: args } = parseArgs({
    options: { rounds: { type: 'string', default: '3' } },
  })
  const rounds = Number(args.rounds)
  if (!(rounds >= 1)) throw new Error('--rounds must be positive')
  const log = (...a) => console.error(...a)
  const { stampedeTable, stampedeSummary, describeError } = await import('./report.mjs')
  let valkey
  let url = process.env.VALKEY_URL
  const stop = async () => {
    if (valkey) await valkey.stop().catch((e) => log(`warning: stopping valkey: ${describeError(e)}`))
    valkey = undefined
  }
  process.once('SIGINT', () => stop().finally(() => process.exit(130)))
  try {
    if (!url) {
      const { startValkey } = await import('../scripts/valkey.mjs')
      valkey = await startValkey()
      url = valkey.url
      log(`started valkey on port ${valkey.port}`)
    }
    log(`\nstampede: ${CALLS} calls, ${LOADER_MS} ms loader, ${rounds} rounds`)
    const block = await runStampede(url, { rounds, log })
    console.log(`\n${stampedeTable([block])}\n`)
    for (const line of stampedeSummary(block)) console.log(line)
  } finally {
    await stop()
  }
}

const isMain = process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href
if (isMain && process.argv[2] === '--child') {
  child(process.argv[3]).catch((e) => {
    process.send?.({ type: 'error', message: String(e?.stack ?? e).split('\n')[0] })
    process.exitCode = 1
    setTimeout(() => process.exit(1), 100).unref()
  })
} else if (isMain) {
  main().catch((e) => {
    console.error(e)
    process.exitCode = 1
  })
}
