// The scaling block (bench/scaling.mjs) and the memory figures (bench/memory.mjs) as Markdown
// tables, summary lines and SVG charts.
import { compact, lineChart } from './svg.mjs'
import { sizeLabel } from './scaling.mjs'

const int = (x) => (Number.isFinite(x) ? Math.round(x).toLocaleString('en-US') : '–')
const us = (x) =>
  Number.isFinite(x) ? (x < 100 ? x.toFixed(1) : Math.round(x).toLocaleString('en-US')) : '–'
const kb = (b) => (Number.isFinite(b) ? `${(b / 1024).toFixed(b < 10_240 ? 2 : 0)} KiB` : '–')

const labelOf = (sweep, x) => (sweep === 'size' ? sizeLabel(x) : `c=${x}`)

/** The charts of a scaling block: [{ file, svg }]. */
export function scalingCharts(block, date) {
  const note = `ferrocache benchmark ${String(date ?? '').slice(0, 10)} · medians of ${block.rounds} rounds × ${block.sliceMs} ms`
  const charts = []
  for (const sweep of ['concurrency', 'size']) {
    const s = block[sweep]
    const x = s.x.map((v) => (sweep === 'size' ? sizeLabel(v) : String(v)))
    const xLabel =
      sweep === 'size'
        ? `value size (${block.sizeConcurrency} concurrent callers)`
        : 'concurrent callers (~1 KB values)'
    for (const [metric, yLabel] of [
      ['opsPerSec', 'get hits per second'],
      ['p99', 'p99 latency, µs'],
    ]) {
      charts.push({
        file: `scaling-${sweep}-${metric === 'p99' ? 'p99' : 'throughput'}.svg`,
        svg: lineChart({
          title: `get ${metric === 'p99' ? 'p99 latency' : 'throughput'} vs ${sweep === 'size' ? 'value size' : 'concurrency'}`,
          xLabel,
          yLabel,
          x,
          logY: sweep === 'size' || metric === 'p99',
          series: s.series.map((ser) => ({ name: ser.name, values: ser.points.map((p) => p[metric]) })),
          note,
        }),
      })
    }
  }
  return charts
}

/** Markdown: one table per sweep, ops/s and p99 per client, ratio = ferrocache ÷ best of the peers shown. */
export function scalingTables(block) {
  const out = []
  for (const sweep of ['concurrency', 'size']) {
    const s = block[sweep]
    const subject = s.series.find((x) => x.kind === 'subject')
    const peers = s.series.filter((x) => x.kind !== 'subject')
    out.push(
      `| ${sweep === 'size' ? `value size (c=${block.sizeConcurrency})` : 'concurrency (~1 KB)'} | ` +
        s.series.map((x) => `${x.name} ops/s · p99 µs`).join(' | ') +
        ' | ratio |',
      `| --- | ${s.series.map(() => '---:').join(' | ')} | ---: |`,
    )
    s.x.forEach((x, i) => {
      const cells = s.series.map((ser) => `${int(ser.points[i].opsPerSec)} · ${us(ser.points[i].p99)}`)
      const best = Math.max(...peers.map((p) => p.points[i].opsPerSec ?? NaN).filter(Number.isFinite))
      const ratio = subject && Number.isFinite(best) ? subject.points[i].opsPerSec / best : NaN
      out.push(
        `| ${labelOf(sweep, x)} | ${cells.join(' | ')} | ${Number.isFinite(ratio) ? `${ratio.toFixed(2)}×` : '–'} |`,
      )
    })
    out.push('')
  }
  return out.join('\n')
}

/** One line per sweep: the ratio range across its points. */
export function scalingSummary(block) {
  return ['concurrency', 'size'].map((sweep) => {
    const s = block[sweep]
    const subject = s.series.find((x) => x.kind === 'subject')
    const peers = s.series.filter((x) => x.kind !== 'subject')
    const parts = s.x.map((x, i) => {
      const best = Math.max(...peers.map((p) => p.points[i].opsPerSec ?? NaN).filter(Number.isFinite))
      const r = subject?.points[i].opsPerSec / best
      return `${labelOf(sweep, x)} ${Number.isFinite(r) ? `${r.toFixed(2)}×` : '–'}`
    })
    return `scaling vs ${sweep}: ferrocache/best-peer ${parts.join(', ')} (peers: ${peers.map((p) => p.name).join(', ')})`
  })
}

/** The memory figures as text lines. */
export function memoryLines(memory) {
  const lines = []
  const { json, dates } = memory.l1 ?? {}
  if (json)
    lines.push(
      `L1 memory per cached key: ${kb(json.bytesPerKey)} for a ~${int(json.valueJsonBytes)} B JSON record (kept frozen)` +
        (dates
          ? `, ${kb(dates.bytesPerKey)} for the same record with a Date and a Map (kept as a decoded template)`
          : '') +
        ` — ${int(json.keys)} keys, heap + external`,
    )
  const conn = Object.entries(memory.perConnection ?? {})
  if (conn.length)
    lines.push(
      `Memory per connection (RSS growth, ${conn[0][1].connections} connections): ` +
        conn.map(([n, r]) => `${n} ${kb(r.rssBytesPerConnection)}`).join(', '),
    )
  return lines
}
