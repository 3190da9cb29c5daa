/** Reading one server's INFO and SLOWLOG into the `inspect()` report. */
import type { Reply } from './resp'

/** One server of the deployment, from its INFO. Sizes in bytes. */
export interface ServerReport {
  address: string
  role: 'primary' | 'replica'
  version: string
  usedMemory: number
  peakMemory: number
  /** 0 = no limit. */
  maxMemory: number
  evictionPolicy: string
  fragmentation: number
  /** keyspace_hits / (keyspace_hits + keyspace_misses), all clients of the server; 0 before any read. */
  hitRate: number
  keyspaceHits: number
  keyspaceMisses: number
  evictedKeys: number
  expiredKeys: number
  connectedClients: number
  opsPerSec: number
  /** Keys in the selected database (all prefixes). */
  dbKeys: number
  uptimeSeconds: number
}

/** One slow-log entry: the command's name and (for data commands) its key, never other arguments. */
export interface SlowlogEntry {
  address: string
  at: Date
  durationUs: number
  command: string
  key?: string
}

/** `INFO` text → field map (`db0` expanded to `db0.keys` etc.). */
export function parseInfo(info: string): Map<string, string> {
  const m = new Map<string, string>()
  for (const line of info.split('\r\n')) {
    if (line === '' || line.startsWith('#')) continue
    const i = line.indexOf(':')
    if (i < 0) continue
    const k = line.slice(0, i)
    const v = line.slice(i + 1)
    m.set(k, v)
    if (/^db\d+$/.test(k)) {
      for (const part of v.split(',')) {
        const [a, b] = part.split('=')
        m.set(`${k}.${a}`, b)
      }
    }
  }
  return m
}

export function serverOf(address: string, info: Map<string, string>, db = 0): ServerReport {
  const n = (k: string): number => {
    const v = Number(info.get(k))
    return Number.isFinite(v) ? v : 0
  }
  const hits = n('keyspace_hits')
  const misses = n('keyspace_misses')
  return {
    address,
    role: info.get('role') === 'slave' ? 'replica' : 'primary',
    version: info.get('valkey_version') ?? info.get('redis_version') ?? 'unknown',
    usedMemory: n('used_memory'),
    peakMemory: n('used_memory_peak'),
    maxMemory: n('maxmemory'),
    evictionPolicy: info.get('maxmemory_policy') ?? 'unknown',
    fragmentation: n('mem_fragmentation_ratio'),
    hitRate: hits + misses === 0 ? 0 : hits / (hits + misses),
    keyspaceHits: hits,
    keyspaceMisses: misses,
    evictedKeys: n('evicted_keys'),
    expiredKeys: n('expired_keys'),
    connectedClients: n('connected_clients'),
    opsPerSec: n('instantaneous_ops_per_sec'),
    dbKeys: n(`db${db}.keys`),
    uptimeSeconds: n('uptime_in_seconds'),
  }
}

/** Commands whose first argument is a key (the key is shown; other commands show only their name). */
const FIRST_ARG_IS_KEY = new Set(
  (
    'GET SET SETEX PSETEX SETNX GETEX GETDEL GETSET APPEND STRLEN INCR INCRBY DECR DECRBY INCRBYFLOAT ' +
    'DEL UNLINK EXISTS EXPIRE PEXPIRE EXPIREAT PEXPIREAT TTL PTTL PERSIST TYPE DUMP RESTORE OBJECT ' +
    'MGET MSET HGET HSET HMGET HMSET HGETALL HDEL HINCRBY HLEN HKEYS HVALS LPUSH RPUSH LPOP RPOP LRANGE ' +
    'LLEN SADD SREM SMEMBERS SCARD SISMEMBER ZADD ZREM ZRANGE ZRANGEBYSCORE ZREMRANGEBYSCORE ZCARD ' +
    'ZSCORE ZCOUNT XADD XRANGE XLEN XTRIM XREADGROUP XACK XCLAIM XAUTOCLAIM XPENDING SORT COPY RENAME'
  ).split(' '),
)

/** The key of a logged command, for commands known to take one (EVAL/EVALSHA/FCALL: first key). */
function keyOf(args: string[]): string | undefined {
  const name = args[0]?.toUpperCase()
  if (name === undefined) return undefined
  if (FIRST_ARG_IS_KEY.has(name)) return args[1]
  if (
    ['EVAL', 'EVALSHA', 'EVAL_RO', 'EVALSHA_RO', 'FCALL', 'FCALL_RO'].includes(name) &&
    Number(args[2]) > 0
  ) {
    return args[3]
  }
  return undefined
}

/** `SLOWLOG GET` reply → entries (name + key only). */
export function slowlogOf(address: string, reply: Reply): SlowlogEntry[] {
  if (!Array.isArray(reply)) return []
  const out: SlowlogEntry[] = []
  for (const e of reply) {
    if (!Array.isArray(e) || e.length < 4 || !Array.isArray(e[3])) continue
    const args = (e[3] as Reply[]).map((a) => (Buffer.isBuffer(a) ? a.toString('utf8') : String(a)))
    const entry: SlowlogEntry = {
      address,
      at: new Date(Number(e[1]) * 1000),
      durationUs: Number(e[2]),
      command: (args[0] ?? '').toUpperCase(),
    }
    const key = keyOf(args)
    if (key !== undefined) entry.key = key
    out.push(entry)
  }
  return out
}
