/**
 * `cache.inspect()` and `cache.keys()`: what the servers and this cache's keys look like. Talks to
 * every server of the deployment (replicas too) over its own short-lived connections. Bounded work
 * on any database size: SCAN with COUNT (never KEYS), at most `maxScanBatches` batches per server
 * with a pause between them, `MEMORY USAGE` on at most `sample` keys.
 */
import { InvalidOptionError } from '../core/errors'
import type { Cache } from '../cache'
import type { CacheStats } from './metrics'
import { endpointOf, ReplyError, RespConnection, text, type Endpoint, type Reply } from './resp'
import { lockKeyOf } from './single-flight'
import { markerKeys } from './tags'
import { parseInfo, serverOf, slowlogOf, type ServerReport, type SlowlogEntry } from './inspect-server'

export type { ServerReport, SlowlogEntry } from './inspect-server'

/** Options of `inspect()`. */
export interface InspectOptions {
  /** Keys sized with `MEMORY USAGE` (split across primaries). Default 1000. */
  sample?: number
  /** Biggest keys listed. Default 10. */
  top?: number
  /** Slow-log entries listed (newest first, all servers). Default 10. */
  slowlog?: number
  /** Most SCAN batches (COUNT 1000 each) per primary: counts are exact below ~this many thousand keys. Default 64. */
  maxScanBatches?: number
}

export interface InspectReport {
  mode: 'memory' | 'standalone' | 'cluster'
  servers: ServerReport[]
  keys: {
    /** Keys of this prefix whose size was measured. */
    sampled: number
    /** Keys under this prefix: exact when the scan completed (`exact`), else extrapolated. */
    estimated: number
    exact: boolean
    /** Total `MEMORY USAGE` of the sampled keys, and extrapolated to `estimated` keys. */
    sampledBytes: number
    estimatedBytes: number
    biggest: { key: string; bytes: number; ttlMs: number }[]
    /** Tag markers of this cache's root prefix (same estimate rules). */
    tagMarkers: number
    /** SCAN calls made, over all servers, and keys they returned (the bounded work done). */
    scanBatches: number
    scanned: number
  }
  slowlog: SlowlogEntry[]
  client: CacheStats
}

export const INSPECT_DEFAULTS = { sample: 1000, top: 10, slowlog: 10, maxScanBatches: 64 }
/** Keys asked per SCAN call. */
export const SCAN_COUNT = 1000
/** Pause between two SCAN batches on one server, in ms: other clients get the server meanwhile. */
export const SCAN_PAUSE_MS = 1

function count(name: string, v: unknown, d: number, max: number): number {
  if (v === undefined) return d
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > max) {
    throw new InvalidOptionError(`inspect: option \`${name}\` must be an integer from 0 to ${max}`)
  }
  return v
}

/**
 * How internal keys look, read from the code that names them (tags.ts, single-flight.ts), so a
 * change of layout needs no change here. Works on the raw key bytes SCAN returns.
 */
function internalMatchers(rootPrefix: string): { isMarker(k: Buffer): boolean; isLease(k: Buffer): boolean } {
  const probe = Buffer.from('\u0001probe\u0001')
  const sample = Buffer.from(markerKeys(rootPrefix, [probe.toString()])[0])
  const at = sample.lastIndexOf(probe)
  const head = sample.subarray(0, at)
  const tail = sample.subarray(at + probe.length)
  const lockSample = Buffer.from(lockKeyOf('{a}'))
  const lockSuffix = lockSample.subarray(lockSample.indexOf('{a}') + 3)
  const endsWith = (k: Buffer, t: Buffer): boolean =>
    k.length >= t.length && k.subarray(k.length - t.length).equals(t)
  return {
    isMarker: (k) =>
      k.length > head.length + tail.length && k.subarray(0, head.length).equals(head) && endsWith(k, tail),
    isLease: (k) => lockSuffix.length > 0 && endsWith(k, lockSuffix),
  }
}

interface Node {
  address: string
  endpoint: Endpoint
  primary: boolean
}

/** The servers of the deployment: the one `url`, or every cluster node from CLUSTER NODES. */
async function discover(cache: Cache, connect: (ep: Endpoint) => Promise<RespConnection>): Promise<Node[]> {
  const o = cache._options
  if (o.url !== undefined) {
    const ep = endpointOf(o.url)
    return [{ address: `${ep.host}:${ep.port}`, endpoint: ep, primary: true }]
  }
  const seeds = o.nodes ?? []
  let lastError: unknown
  for (const seed of seeds) {
    const ep = endpointOf(seed)
    let c: RespConnection | undefined
    try {
      c = await connect(ep)
      const r = c.check(await c.call(['CLUSTER', 'NODES']), 'CLUSTER NODES')
      const nodes: Node[] = []
      for (const line of text(r).split('\n')) {
        const f = line.trim().split(' ')
        if (f.length < 8) continue
        const flags = f[2].split(',')
        if (flags.includes('fail') || flags.includes('noaddr') || flags.includes('handshake')) continue
        const addr = f[1].split('@')[0]
        const i = addr.lastIndexOf(':')
        const host = addr.slice(0, i) || ep.host
        const port = Number(addr.slice(i + 1))
        nodes.push({
          address: `${host}:${port}`,
          endpoint: { ...ep, host, port },
          primary: flags.includes('master'),
        })
      }
      nodes.sort((a, b) => Number(b.primary) - Number(a.primary) || a.address.localeCompare(b.address))
      return nodes
    } catch (e) {
      lastError = e
    } finally {
      c?.close()
    }
  }
  throw lastError ?? new InvalidOptionError('inspect: the cache has no cluster seed nodes')
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms))
}

interface ScanResult {
  matched: number
  markers: number
  visited: number
  batches: number
  complete: boolean
  sampleKeys: string[]
}

/**
 * SCANs one primary up to `maxBatches` batches (no MATCH: the ratio of our keys among all the keys
 * visited gives the estimate), keeping a uniform sample of `want` of our keys to size.
 */
async function scanServer(
  c: RespConnection,
  prefix: string,
  want: number,
  maxBatches: number,
  internal: ReturnType<typeof internalMatchers>,
): Promise<ScanResult> {
  const r: ScanResult = { matched: 0, markers: 0, visited: 0, batches: 0, complete: false, sampleKeys: [] }
  let cursor = '0'
  while (r.batches < maxBatches) {
    if (r.batches > 0) await sleep(SCAN_PAUSE_MS)
    const reply = c.check(await c.call(['SCAN', cursor, 'COUNT', SCAN_COUNT]), 'SCAN') as Reply[]
    r.batches++
    cursor = text(reply[0])
    const keys = reply[1] as Buffer[]
    r.visited += keys.length
    for (const b of keys) {
      if (internal.isMarker(b)) {
        r.markers++
        continue
      }
      const k = b.toString('utf8')
      if (k.startsWith(prefix) && !internal.isLease(b)) {
        r.matched++
        // Reservoir sampling: every key seen so far has the same chance to be sized.
        if (r.sampleKeys.length < want) r.sampleKeys.push(k)
        else {
          const j = Math.floor(Math.random() * r.matched)
          if (j < want) r.sampleKeys[j] = k
        }
      }
    }
    if (cursor === '0') {
      r.complete = true
      break
    }
  }
  return r
}

/**
 * Implements `cache.inspect()`. Memory mode reports only the client's stats (the memory store is
 * not enumerable from outside the engine).
 */
export async function inspect(cache: Cache, options?: InspectOptions): Promise<InspectReport> {
  const o = options ?? {}
  const sample = count('sample', o.sample, INSPECT_DEFAULTS.sample, 1_000_000)
  const top = count('top', o.top, INSPECT_DEFAULTS.top, 10_000)
  const slowN = count('slowlog', o.slowlog, INSPECT_DEFAULTS.slowlog, 1024)
  const maxBatches = count('maxScanBatches', o.maxScanBatches, INSPECT_DEFAULTS.maxScanBatches, 1_000_000)
  const mode = cache._mode as InspectReport['mode']
  const report: InspectReport = {
    mode,
    servers: [],
    keys: {
      sampled: 0,
      estimated: 0,
      exact: true,
      sampledBytes: 0,
      estimatedBytes: 0,
      biggest: [],
      tagMarkers: 0,
      scanBatches: 0,
      scanned: 0,
    },
    slowlog: [],
    client: cache.stats(),
  }
  if (mode === 'memory') return report
  const opts = cache._options
  const timeoutMs = Math.max(opts.connectTimeoutMs, opts.commandTimeoutMs, 2000)
  const connect = (ep: Endpoint) => RespConnection.open(ep, { timeoutMs, tlsCa: opts.tlsCa })
  const nodes = await discover(cache, connect)
  const internal = internalMatchers(opts.prefix)
  const primaries = nodes.filter((n) => n.primary).length || 1
  const perServer = Math.ceil(sample / primaries)
  const sized: { key: string; bytes: number; ttlMs: number }[] = []
  let estimated = 0
  let markers = 0
  const results = await Promise.all(
    nodes.map(async (n) => {
      const c = await connect(n.endpoint)
      try {
        const [info, slow, dbsize] = await c.pipeline([
          ['INFO', 'everything'],
          ['SLOWLOG', 'GET', slowN],
          ['DBSIZE'],
        ])
        const server = serverOf(n.address, parseInfo(text(c.check(info, 'INFO'))))
        const slowlog = slow instanceof ReplyError ? [] : slowlogOf(n.address, slow)
        if (!n.primary) return { server, slowlog }
        const scan = await scanServer(c, cache.prefix, perServer, maxBatches, internal)
        const size = typeof dbsize === 'number' ? dbsize : scan.visited
        const extrapolate = (found: number) =>
          scan.complete || scan.visited === 0 ? found : Math.round((found / scan.visited) * size)
        estimated += extrapolate(scan.matched)
        markers += extrapolate(scan.markers)
        report.keys.exact &&= scan.complete
        report.keys.scanBatches += scan.batches
        report.keys.scanned += scan.visited
        if (scan.sampleKeys.length > 0) {
          const replies = await c.pipeline(
            scan.sampleKeys.flatMap((k) => [
              ['MEMORY', 'USAGE', k],
              ['PTTL', k],
            ]),
          )
          scan.sampleKeys.forEach((k, i) => {
            const bytes = replies[2 * i]
            const ttl = replies[2 * i + 1]
            if (typeof bytes !== 'number') return // expired meanwhile
            sized.push({
              key: k.slice(cache.prefix.length),
              bytes,
              ttlMs: typeof ttl === 'number' ? ttl : -1,
            })
          })
        }
        return { server, slowlog }
      } finally {
        c.close()
      }
    }),
  )
  for (const r of results) {
    report.servers.push(r.server)
    report.slowlog.push(...r.slowlog)
  }
  report.slowlog.sort((a, b) => b.at.getTime() - a.at.getTime())
  report.slowlog.length = Math.min(report.slowlog.length, slowN)
  sized.sort((a, b) => b.bytes - a.bytes)
  report.keys.sampled = sized.length
  report.keys.sampledBytes = sized.reduce((s, k) => s + k.bytes, 0)
  report.keys.estimated = estimated
  report.keys.estimatedBytes =
    sized.length === 0 ? 0 : Math.round((report.keys.sampledBytes / sized.length) * estimated)
  report.keys.biggest = sized.slice(0, top)
  report.keys.tagMarkers = markers
  return report
}
