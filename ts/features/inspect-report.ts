/** The terminal rendering of an `inspect()` report (the CLI's text output). */
import type { InspectReport } from './inspect'

/** 1536 → "1.5 KiB". */
export function bytes(n: number): string {
  if (!Number.isFinite(n) || n < 0) return '-'
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
  let i = 0
  let v = n
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024
    i++
  }
  return i === 0 ? `${v} B` : `${v.toFixed(v < 10 ? 2 : 1)} ${units[i]}`
}

export function percent(r: number): string {
  return `${(r * 100).toFixed(1)}%`
}

/** A 10-cell bar: "████████░░". */
export function bar(r: number, width = 10): string {
  const full = Math.max(0, Math.min(width, Math.round(r * width)))
  return '█'.repeat(full) + '░'.repeat(width - full)
}

function int(n: number): string {
  return Math.round(n).toLocaleString('en-US')
}

function ttl(ms: number): string {
  if (ms === -1) return 'none'
  if (ms < 0) return '-'
  const s = Math.round(ms / 1000)
  if (s < 120) return `${s}s`
  if (s < 7200) return `${Math.round(s / 60)}m`
  if (s < 172800) return `${Math.round(s / 3600)}h`
  return `${Math.round(s / 86400)}d`
}

function duration(us: number): string {
  return us >= 1000 ? `${(us / 1000).toFixed(1)} ms` : `${us} µs`
}

/** Aligned columns; `right` lists the columns aligned right (numbers). */
export function table(head: string[], rows: string[][], right: ReadonlySet<number>, indent = '  '): string[] {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => [...(r[i] ?? '')].length)))
  const pad = (s: string, i: number): string => {
    const gap = ' '.repeat(widths[i] - [...s].length)
    return right.has(i) ? gap + s : s + gap
  }
  const line = (r: string[]): string => indent + r.map(pad).join('  ').trimEnd()
  return [line(head), ...rows.map(line)]
}

/** Quotes a key for display: control bytes escaped, long keys shortened. */
function shown(key: string): string {
  // eslint-disable-next-line no-control-regex
  const s = JSON.stringify(key)
    .slice(1, -1)
    .replace(/[\u0000-\u001f]/g, '?')
  return s.length > 60 ? `${s.slice(0, 57)}...` : s
}

export function renderReport(r: InspectReport, prefix: string, at = new Date()): string {
  const out: string[] = []
  out.push(
    `ferrocache inspect · ${r.mode} · prefix "${prefix}" · ${at.toISOString().replace(/\.\d+Z$/, 'Z')}`,
    '',
  )
  out.push(`SERVERS (${r.servers.length})`)
  out.push(
    ...table(
      [
        'ADDRESS',
        'ROLE',
        'VERSION',
        'USED',
        'PEAK',
        'MAX',
        'POLICY',
        'FRAG',
        'HIT RATE',
        '',
        'EVICTED',
        'EXPIRED',
        'CLIENTS',
        'OPS/S',
        'KEYS',
      ],
      r.servers.map((s) => [
        s.address,
        s.role,
        s.version,
        bytes(s.usedMemory),
        bytes(s.peakMemory),
        s.maxMemory === 0 ? 'no limit' : bytes(s.maxMemory),
        s.evictionPolicy,
        s.fragmentation.toFixed(2),
        bar(s.hitRate),
        percent(s.hitRate),
        int(s.evictedKeys),
        int(s.expiredKeys),
        int(s.connectedClients),
        int(s.opsPerSec),
        int(s.dbKeys),
      ]),
      new Set([3, 4, 5, 7, 9, 10, 11, 12, 13, 14]),
    ),
  )
  const k = r.keys
  out.push('', `KEYS UNDER "${prefix}"`)
  out.push(
    ...table(
      ['', ''],
      [
        [
          'entries',
          `${k.exact ? '' : '~'}${int(k.estimated)}${k.exact ? ' (exact: scan completed)' : ' (estimated from a sample)'}`,
        ],
        [
          'size',
          `${k.sampled === k.estimated ? '' : '~'}${bytes(k.estimatedBytes)} (${int(k.sampled)} keys sized: ${bytes(k.sampledBytes)})`,
        ],
        ['tag markers', `${k.exact ? '' : '~'}${int(k.tagMarkers)}`],
        ['scan work', `${int(k.scanBatches)} SCAN batches, ${int(k.scanned)} keys visited`],
      ],
      new Set(),
    ).slice(1),
  )
  out.push('', `BIGGEST KEYS (top ${k.biggest.length} of the sample)`)
  if (k.biggest.length === 0) out.push('  (none)')
  else {
    out.push(
      ...table(
        ['KEY', 'SIZE', 'TTL'],
        k.biggest.map((b) => [shown(b.key), bytes(b.bytes), ttl(b.ttlMs)]),
        new Set([1, 2]),
      ),
    )
  }
  out.push('', `SLOW LOG (newest ${r.slowlog.length}, all servers; command and key only)`)
  if (r.slowlog.length === 0) out.push('  (empty)')
  else {
    out.push(
      ...table(
        ['AT', 'SERVER', 'DURATION', 'COMMAND'],
        r.slowlog.map((e) => [
          e.at.toISOString().slice(11, 19),
          e.address,
          duration(e.durationUs),
          e.key === undefined ? e.command : `${e.command} ${shown(e.key)}`,
        ]),
        new Set([2]),
      ),
    )
  }
  return out.join('\n') + '\n'
}
