// Memory figures, each measured in a fresh child process (nothing else in its heap):
// - L1: heap + external bytes per cached key, ~1 KB order records (JSON: kept frozen) and the
//   same records with Dates (kept as a decoded template after their first hit), 20,000 keys.
// - per connection: RSS growth per open connection, ferrocache (poolSize 64, every connection
//   used) and the peers (one client per connection), 64 connections.
//   node bench/memory.mjs --probe <l1-json|l1-dates|conn-ferrocache|conn-ioredis|conn-node-redis> --url URL
import { fork } from 'node:child_process'
import { parseArgs } from 'node:util'
import { collectGarbage } from './harness.mjs'
import { makeRecord } from './data.mjs'

const L1_KEYS = 20_000
const CONNECTIONS = 64
const PROBES = ['l1-json', 'l1-dates', 'conn-ferrocache', 'conn-ioredis', 'conn-node-redis']

const settle = async () => {
  for (let i = 0; i < 3; i++) {
    collectGarbage()
    await new Promise((r) => setTimeout(r, 20))
  }
  return process.memoryUsage()
}

async function probe(name, url) {
  const tag = `bench-mem:${process.pid}:`
  if (name.startsWith('l1-')) {
    const { Cache } = await import('../dist/index.mjs')
    const cache = new Cache({ url, prefix: tag, l1: { maxEntries: L1_KEYS * 2, maxBytes: 1 << 30 } })
    const dated = name === 'l1-dates'
    const value = (i) =>
      dated ? { ...makeRecord(i), at: new Date(i), seen: new Map([['n', i]]) } : makeRecord(i)
    let bytes = 0
    for (let i = 0; i < L1_KEYS; i += 100) {
      const batch = Array.from({ length: 100 }, (_, k) => ({
        key: `k${i + k}`,
        value: value(i + k),
        ttl: 300,
      }))
      await cache.setMany(batch)
    }
    for (let i = 0; i < 10; i++) bytes += JSON.stringify(value(i)).length
    for (let i = 0; i < 50 && !(await cache.health()).ok; i++) await null
    await new Promise((r) => setTimeout(r, 100)) // the bus is subscribed: the tier is on
    const before = await settle()
    // Read every key twice: the first read fills the tier, the second is a hit (a template, for Dates).
    for (let pass = 0; pass < 2; pass++)
      for (let i = 0; i < L1_KEYS; i += 100)
        await cache.getMany(Array.from({ length: 100 }, (_, k) => `k${i + k}`))
    const after = await settle()
    const held = cache.stats().l1Hits
    const used = (m) => m.heapUsed + m.external
    await cache.deleteMatching('*')
    await cache.close()
    return {
      keys: L1_KEYS,
      l1Hits: held,
      valueJsonBytes: bytes / 10,
      bytesPerKey: (used(after) - used(before)) / L1_KEYS,
    }
  }
  const before = await settle()
  let opened
  if (name === 'conn-ferrocache') {
    const { Cache } = await import('../dist/index.mjs')
    const cache = new Cache({ url, prefix: tag, poolSize: CONNECTIONS })
    // Connections are opened on use, round robin per batch: one awaited call per connection.
    for (let i = 0; i < CONNECTIONS; i++) await cache.get('absent')
    opened = { close: () => cache.close() }
  } else if (name === 'conn-ioredis') {
    const { Redis } = await import('ioredis')
    const all = Array.from({ length: CONNECTIONS }, () => new Redis(url, { maxRetriesPerRequest: 1 }))
    await Promise.all(all.map((r) => r.ping()))
    opened = { close: () => all.forEach((r) => r.disconnect()) }
  } else if (name === 'conn-node-redis') {
    const { createClient } = await import('redis')
    const all = Array.from({ length: CONNECTIONS }, () => createClient({ url }))
    await Promise.all(all.map((c) => c.connect()))
    await Promise.all(all.map((c) => c.ping()))
    opened = { close: () => Promise.all(all.map((c) => c.quit())) }
  } else throw new Error(`unknown probe ${name}`)
  const after = await settle()
  await opened.close()
  return { connections: CONNECTIONS, rssBytesPerConnection: (after.rss - before.rss) / CONNECTIONS }
}

/** Every probe in its own child process; returns { l1: {...}, perConnection: {...} }. */
export async function measureMemory(url, clients, log = () => {}) {
  const have = new Set(clients.filter((c) => c.status === 'ok').map((c) => c.name))
  const out = { l1: {}, perConnection: {} }
  for (const p of PROBES) {
    const client = p === 'conn-ioredis' ? 'ioredis' : p === 'conn-node-redis' ? 'node-redis' : 'ferrocache'
    if (![...have].some((n) => n.startsWith(client))) continue
    const child = fork(new URL(import.meta.url), ['--probe', p, '--url', url], { stdio: 'inherit' })
    const result = await new Promise((resolve, reject) => {
      child.once('message', resolve)
      child.once('exit', (code) => reject(new Error(`memory probe ${p} exited with ${code}`)))
    })
    child.kill()
    if (p.startsWith('l1-')) out.l1[p === 'l1-json' ? 'json' : 'dates'] = result
    else out.perConnection[client] = result
    log(`  ${p}: ${JSON.stringify(result)}`)
  }
  return out
}

const { values: args } = parseArgs({
  options: { probe: { type: 'string' }, url: { type: 'string' } },
  strict: false,
})
if (args.probe) {
  probe(args.probe, args.url).then(
    (r) => process.send(r, () => process.exit(0)),
    (e) => {
      console.error(e)
      process.exit(1)
    },
  )
}
