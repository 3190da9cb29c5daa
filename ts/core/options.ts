import { InvalidOptionError } from './errors'
import type { Serializer } from './codec'
import * as D from './defaults'
import { checkWellFormed } from './keys'

/** Options of `new Cache()`. Every field is optional; defaults are listed on each field. */
export interface CacheOptions {
  /** `redis://[user:password@]host:port[/db]` or `rediss://…` (TLS). Absent → memory-only mode. */
  url?: string
  /**
   * Valkey Cluster seed URLs (instead of `url`), e.g. `['redis://10.0.0.1:6379', 'redis://10.0.0.2:6379']`.
   * The rest of the cluster is discovered from them; same credentials and scheme on all.
   */
  nodes?: string[]
  /** Prepended to every key this cache writes. Default `'fc:'`, so `clear()` never touches other data. */
  prefix?: string
  /** Default time to live, in seconds (at most 100 years; `Infinity`: no expiry). Default 300. */
  ttl?: number
  /** Connections to each Valkey node. Default 1 (fastest in our benchmark: one pipelined connection). */
  poolSize?: number
  /** lz4 compression of payloads of at least `threshold` bytes (default 1024); `false` turns it off. */
  compression?: false | { threshold?: number }
  /**
   * How values become bytes. Default `'structured'`: Date, Map, Set, BigInt, undefined, NaN/±Infinity,
   * Uint8Array/Buffer and nested data round-trip exactly. `'json'`: plain JSON (interop with other
   * clients). Or your own `{ serialize, deserialize }`.
   */
  serializer?: 'structured' | 'json' | Serializer
  /**
   * In-process tier in front of Valkey (default off). Kept coherent across instances over pub/sub:
   * every write, delete and invalidation anywhere drops the entry here. Enable it on every instance
   * that writes to the same prefix. Plain-data values are handed out deeply frozen.
   * `{ maxEntries = 10000, maxBytes = 32 MiB, ttl = 60 }` (ttl in seconds; never past the Valkey ttl).
   */
  l1?: false | { maxEntries?: number; maxBytes?: number; ttl?: number }
  /** Per-command timeout in milliseconds. Default 500: a cache that answers late is down. */
  commandTimeoutMs?: number
  /** Connect timeout in milliseconds. Default 1000. */
  connectTimeoutMs?: number
  /** Largest serialized value accepted, in bytes. Default 16 MiB (Valkey's hard limit is 512 MB). */
  maxValueBytes?: number
  /** Largest key accepted, prefix included, in bytes. Default 4096. */
  maxKeyBytes?: number
  /** Memory-only mode: bound on keys + values, in bytes. Default 64 MiB. */
  memoryMaxBytes?: number
  /** TLS settings for `rediss://`: `ca` is the PEM of a private CA to trust. */
  tls?: { ca?: string | Buffer }
  /**
   * Microseconds the I/O thread keeps polling after a batch before it sleeps (default 100). The next
   * request of a sequential caller then needs no thread wake-up: measured ~1.5× more sequential
   * gets/s. `0` lets the thread sleep at once (less CPU on a mostly idle process).
   */
  ioPollUs?: number
  /**
   * Sequential requests, and up to 8 in flight from callers that come a few at a time (a web
   * server's requests), use a connection of the JS thread's own, pipelined: the request is
   * written to the socket and its reply read by the event loop, with no hop to the I/O thread and
   * back (default `true`; plain `redis://` to one node only; TLS, Unix sockets and clusters always
   * use the I/O thread, and so does the overflow of many concurrent calls). `false` sends
   * everything through the I/O thread.
   */
  directSocket?: boolean
  /**
   * How long a tag invalidation is remembered, in seconds (default 7 days). Entries carrying tags
   * live at most this long (their ttl + grace is capped to it), so markers can expire safely.
   */
  tagTtl?: number
  /** Labels this cache's metrics (`cache="…"`) and log lines. Default: the prefix. */
  name?: string
  /**
   * Where the one-line "Valkey unreachable" / "reachable again" messages go (default `console`);
   * `false` turns them off. Never logs values, keys or credentials.
   */
  logger?: false | { warn(message: string): void; info?(message: string): void }
  /** Receives every `'down' | 'up' | 'error' | 'stale'` event (same as `cache.on(type, fn)`). */
  onEvent?: (event: { type: 'down' | 'up' | 'error' | 'stale'; at: Date; [k: string]: unknown }) => void
}

/** Options after validation, with defaults filled in. */
export interface ResolvedOptions {
  url?: string
  nodes?: string[]
  prefix: string
  ttlMs: number
  poolSize: number
  compressionThreshold?: number
  serializer: 'structured' | 'json' | Serializer
  commandTimeoutMs: number
  connectTimeoutMs: number
  maxValueBytes: number
  maxKeyBytes: number
  memoryMaxBytes: number
  tlsCa?: string
  tagTtlMs: number
  ioPollUs: number
  directSocket: boolean
  l1?: { maxEntries: number; maxBytes: number; ttlMs: number }
  name: string
  logger: false | { warn(message: string): void; info?(message: string): void }
  onEvent?: (event: { type: 'down' | 'up' | 'error' | 'stale'; at: Date; [k: string]: unknown }) => void
}

const KNOWN = new Set([
  'url',
  'nodes',
  'prefix',
  'ttl',
  'poolSize',
  'compression',
  'serializer',
  'l1',
  'commandTimeoutMs',
  'connectTimeoutMs',
  'maxValueBytes',
  'maxKeyBytes',
  'memoryMaxBytes',
  'tls',
  'tagTtl',
  'ioPollUs',
  'directSocket',
  'name',
  'logger',
  'onEvent',
])

function flag(name: string, v: unknown, dflt: boolean): boolean {
  if (v === undefined) return dflt
  if (typeof v !== 'boolean') bad(name, `must be true or false, got ${typeof v}`)
  return v
}

function bad(name: string, why: string): never {
  throw new InvalidOptionError(`option \`${name}\` ${why}`)
}

function int(name: string, v: unknown, dflt: number, min: number, max: number): number {
  if (v === undefined) return dflt
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    bad(name, `must be an integer from ${min} to ${max}, got ${String(v)}`)
  }
  return v
}

/**
 * Checks a time in seconds (`ttl`, `grace`, …) and returns it in milliseconds: a number > 0 and at
 * most `MAX_TTL_SECONDS`, or — where `infinite` allows it — `Infinity`, kept as `Infinity` ms
 * ("no expiry": the engine stores it without one).
 */
export function ttlToMs(name: string, v: unknown, infinite = false): number {
  if (infinite && v === Infinity) return Infinity
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0 || v > D.MAX_TTL_SECONDS) {
    bad(
      name,
      `must be a number of seconds > 0 and at most ${D.MAX_TTL_SECONDS} (100 years)${
        infinite ? ', or Infinity for no expiry' : ''
      }, got ${String(v)}`,
    )
  }
  return Math.ceil(v * 1000)
}

export function resolveOptions(input: CacheOptions | undefined): ResolvedOptions {
  const o = (input ?? {}) as Record<string, unknown>
  if (typeof o !== 'object' || Array.isArray(o)) bad('options', 'must be an object')
  for (const k of Object.keys(o)) if (!KNOWN.has(k)) bad(k, 'is not a Cache option (check the spelling)')
  if (o.url !== undefined && (typeof o.url !== 'string' || !/^rediss?:\/\/[^\s]+$/.test(o.url))) {
    bad('url', 'must be a redis:// or rediss:// URL, e.g. redis://127.0.0.1:6379')
  }
  if (o.nodes !== undefined) {
    const n = o.nodes
    if (
      !Array.isArray(n) ||
      n.length === 0 ||
      !n.every((u) => typeof u === 'string' && /^rediss?:\/\/[^\s]+$/.test(u))
    ) {
      bad('nodes', "must be a non-empty array of redis:// or rediss:// URLs, e.g. ['redis://10.0.0.1:6379']")
    }
    if (o.url !== undefined)
      bad('nodes', 'and `url` cannot be used together: give `url` (one node) or `nodes` (a cluster)')
  }
  let l1: ResolvedOptions['l1']
  if (o.l1 !== undefined && o.l1 !== false) {
    if (typeof o.l1 !== 'object' || o.l1 === null)
      bad('l1', 'must be false or { maxEntries?, maxBytes?, ttl? }')
    const l = o.l1 as { maxEntries?: unknown; maxBytes?: unknown; ttl?: unknown }
    l1 = {
      maxEntries: int('l1.maxEntries', l.maxEntries, D.DEFAULT_L1_MAX_ENTRIES, 1, 10_000_000),
      maxBytes: int('l1.maxBytes', l.maxBytes, D.DEFAULT_L1_MAX_BYTES, 1024, Number.MAX_SAFE_INTEGER),
      ttlMs: ttlToMs('l1.ttl', l.ttl === undefined ? D.DEFAULT_L1_TTL_SECONDS : l.ttl),
    }
  }
  const prefix = o.prefix === undefined ? D.DEFAULT_PREFIX : o.prefix
  if (typeof prefix !== 'string') bad('prefix', 'must be a string')
  checkWellFormed('prefix', prefix)
  const ttlMs = ttlToMs('ttl', o.ttl === undefined ? D.DEFAULT_TTL_SECONDS : o.ttl, true)
  let compressionThreshold: number | undefined = D.DEFAULT_COMPRESSION_THRESHOLD
  if (o.compression === false) compressionThreshold = undefined
  else if (o.compression !== undefined) {
    if (typeof o.compression !== 'object' || o.compression === null) {
      bad('compression', 'must be false or { threshold?: number }')
    }
    const c = o.compression as { threshold?: unknown }
    compressionThreshold = int(
      'compression.threshold',
      c.threshold,
      D.DEFAULT_COMPRESSION_THRESHOLD,
      1,
      2 ** 31,
    )
  }
  const s = o.serializer
  if (
    s !== undefined &&
    s !== 'structured' &&
    s !== 'json' &&
    !(
      typeof s === 'object' &&
      s !== null &&
      typeof (s as Serializer).serialize === 'function' &&
      typeof (s as Serializer).deserialize === 'function'
    )
  ) {
    bad('serializer', "must be 'structured', 'json' or { serialize(v), deserialize(bytes) }")
  }
  let tlsCa: string | undefined
  if (o.tls !== undefined) {
    const t = o.tls as { ca?: unknown }
    if (typeof t !== 'object' || t === null) bad('tls', 'must be { ca?: string | Buffer }')
    if (t.ca !== undefined) {
      if (typeof t.ca === 'string') tlsCa = t.ca
      else if (Buffer.isBuffer(t.ca)) tlsCa = t.ca.toString('utf8')
      else bad('tls.ca', 'must be a PEM string or Buffer')
    }
  }
  return {
    url: o.url as string | undefined,
    nodes: o.nodes === undefined ? undefined : [...(o.nodes as string[])],
    prefix,
    ttlMs,
    poolSize: int('poolSize', o.poolSize, D.DEFAULT_POOL_SIZE, 1, 64),
    compressionThreshold,
    serializer: (s ?? 'structured') as ResolvedOptions['serializer'],
    commandTimeoutMs: int('commandTimeoutMs', o.commandTimeoutMs, D.DEFAULT_COMMAND_TIMEOUT_MS, 1, 600_000),
    connectTimeoutMs: int('connectTimeoutMs', o.connectTimeoutMs, D.DEFAULT_CONNECT_TIMEOUT_MS, 1, 600_000),
    maxValueBytes: int(
      'maxValueBytes',
      o.maxValueBytes,
      D.DEFAULT_MAX_VALUE_BYTES,
      1,
      512 * 1024 * 1024 - 64,
    ),
    maxKeyBytes: int('maxKeyBytes', o.maxKeyBytes, D.DEFAULT_MAX_KEY_BYTES, 16, 65536),
    memoryMaxBytes: int(
      'memoryMaxBytes',
      o.memoryMaxBytes,
      D.DEFAULT_MEMORY_MAX_BYTES,
      1024,
      Number.MAX_SAFE_INTEGER,
    ),
    tlsCa,
    tagTtlMs: ttlToMs('tagTtl', o.tagTtl === undefined ? D.DEFAULT_TAG_TTL_SECONDS : o.tagTtl),
    l1,
    ioPollUs: int('ioPollUs', o.ioPollUs, D.DEFAULT_IO_POLL_US, 0, 100_000),
    directSocket: flag('directSocket', o.directSocket, D.DEFAULT_DIRECT_SOCKET),
    ...operationsOptions(o, prefix),
  }
}
/** `name`, `logger`, `onEvent` (features/telemetry.ts uses them). */
function operationsOptions(
  o: Record<string, unknown>,
  prefix: string,
): Pick<ResolvedOptions, 'name' | 'logger' | 'onEvent'> {
  // The default is the prefix, whatever its length; an explicit name is a short label.
  const name = o.name === undefined ? prefix : o.name
  if (o.name !== undefined && (typeof name !== 'string' || name.length > 200)) {
    bad('name', 'must be a string of at most 200 characters')
  }
  const logger = o.logger === undefined ? console : o.logger
  if (
    logger !== false &&
    (typeof logger !== 'object' ||
      logger === null ||
      typeof (logger as { warn?: unknown }).warn !== 'function')
  ) {
    bad(
      'logger',
      'must be false or an object with warn(message) (and optionally info(message)), e.g. console',
    )
  }
  if (o.onEvent !== undefined && typeof o.onEvent !== 'function') bad('onEvent', 'must be a function')
  return {
    name: name as string,
    logger: logger as ResolvedOptions['logger'],
    onEvent: o.onEvent as ResolvedOptions['onEvent'],
  }
}
