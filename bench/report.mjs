// Markdown table, per-case summary lines and the JSON written to bench/results/.
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { memoryLines, scalingCharts, scalingSummary, scalingTables } from './report-scaling.mjs'

export { memoryLines }

const BENCH_DIR = path.dirname(fileURLToPath(import.meta.url))
const REPO_DIR = path.dirname(BENCH_DIR)

/** One-line, path-free error text that is safe to put in a committed file. */
export function describeError(err) {
  let msg = String(err?.message ?? err).split('\n')[0]
  for (const [p, label] of [
    [REPO_DIR, '.'],
    [os.homedir(), '~'],
    [os.tmpdir(), '<tmp>'],
  ]) {
    if (p && p.length > 1) msg = msg.split(p).join(label)
  }
  msg = msg.replace(/file:\/\/\S*/g, '<file>').replace(/\|/g, '/')
  return msg.length > 140 ? `${msg.slice(0, 137)}...` : msg
}

const int = (x) => (Number.isFinite(x) ? Math.round(x).toLocaleString('en-US') : '–')
const us = (x) =>
  Number.isFinite(x) ? (x < 100 ? x.toFixed(1) : Math.round(x).toLocaleString('en-US')) : '–'
const times = (x) => (Number.isFinite(x) ? `${x.toFixed(2)}×` : '–')

export function summaryLine(block) {
  if (block.type === 'stampede') return stampedeSummary(block).join('\n')
  if (block.type === 'scaling') return scalingSummary(block).join('\n')
  const label = `${block.case} c=${block.concurrency}`
  if (block.type === 'getorset-hit') {
    if (!Number.isFinite(block.ratio)) {
      const bad = block.clients.find((c) => c.status !== 'ok')
      return `${label}: not measured (${bad ? `${bad.name}: ${bad.reason}` : 'no result'})`
    }
    const verdict = block.ratio >= block.target ? 'met' : 'NOT met'
    return (
      `${label}: getOrSet/get throughput = ${times(block.ratio)} (median of per-round pairs; ` +
      `ratio of medians ${times(block.ratioOfMedians)}) · target ≥ ${block.target.toFixed(2)}×, ` +
      `i.e. getOrSet costs ≤ 1.1× get: ${verdict}`
    )
  }
  const subject = block.clients.find((c) => c.kind === 'subject')
  const best = block.bestPeer
  if (!best) return `${label}: no peer result`
  if (!subject || subject.status !== 'ok') {
    return `${label}: ferrocache ${subject ? subject.status + ': ' + subject.reason : 'not run'} (best peer: ${best.name}, ${int(best.opsPerSec)} ops/s)`
  }
  return `${label}: ferrocache/best-peer = ${times(block.ratio)} (best peer: ${best.name})${paired(block)}${stolen(block)}`
}

const pct = (x) => `${Math.round(x * 100)}%`
const paired = (b) => (Number.isFinite(b.pairedRatio) ? ` · per-round pairs ${times(b.pairedRatio)}` : '')
/** The host's steal time over the case's rounds: what a ratio from a busy host is worth. */
const stolen = (b) => (b.steal ? ` · host steal ${pct(b.steal.median)} (max ${pct(b.steal.max)})` : '')

export function markdownTable(blocks) {
  const lines = [
    '| case | concurrency | client | ops/s | p50 µs | p99 µs | bytes/op | ratio |',
    '| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: |',
  ]
  for (const b of blocks) {
    if (b.type === 'stampede' || b.type === 'scaling') continue
    for (const c of b.clients) {
      const head = `| ${b.case} | ${b.concurrency} | ${c.name} |`
      if (c.status !== 'ok') {
        lines.push(`${head} ${c.status}: ${c.reason} | | | | |`)
        continue
      }
      const ratio = c.kind === 'subject' ? times(b.ratio) : ''
      lines.push(
        `${head} ${int(c.opsPerSec)} | ${us(c.p50)} | ${us(c.p99)} | ${int(c.bytesPerOp)} | ${ratio} |`,
      )
    }
  }
  return lines.join('\n')
}

const ms = (x) => (Number.isFinite(x) ? x.toFixed(1) : '–')

/** The stampede blocks as one table: loader calls and wall time per contestant and process count. */
export function stampedeTable(blocks) {
  const lines = [
    '| case | processes | client | loader calls | wall ms | loader calls per round | wall ms per round |',
    '| --- | ---: | --- | ---: | ---: | --- | --- |',
  ]
  for (const b of blocks) {
    if (b.type !== 'stampede') continue
    for (const r of b.results) {
      const head = `| ${b.case} | ${r.processes} | ${r.name} |`
      if (r.status !== 'ok') {
        lines.push(`${head} ${r.status}: ${r.reason} | | | |`)
        continue
      }
      const errs = r.errors ? ` (${r.errors} failed calls)` : ''
      lines.push(
        `${head} ${r.loaderCalls}${errs} | ${ms(r.wallMs)} | ${r.rounds.map((x) => x.loaderCalls).join(', ')} | ` +
          `${r.rounds.map((x) => ms(x.wallMs)).join(', ')} |`,
      )
    }
  }
  return lines.length > 2 ? lines.join('\n') : ''
}

/** The stampede targets, one line each. */
export function stampedeSummary(b) {
  const fc = b.results.filter((r) => r.name === 'ferrocache')
  const perProc = fc
    .map(
      (r) =>
        `${r.processes}p: ${r.status === 'ok' ? r.rounds.map((x) => x.loaderCalls).join(', ') : r.status}`,
    )
    .join('; ')
  const t = b.targets.ferrocacheWall
  const walls = fc.map((r) => `${r.processes}p ${ms(r.wallMs)} ms`).join(', ')
  const verdict = (m) => (m === true ? 'met' : m === false ? 'NOT met' : 'not measured')
  return [
    `stampede: ferrocache loader calls = 1 across all processes, every round (${perProc}): ` +
      verdict(b.targets.ferrocacheSingleLoad.met),
    `stampede: ferrocache wall time (${walls}) ≤ bentocache 1-process wall + 20 ms (${ms(t.budgetMs)} ms): ` +
      verdict(t.met),
  ]
}

/** Every table of a run: throughput cases, then the stampede. */
export function renderTables(blocks) {
  return [markdownTable(blocks), stampedeTable(blocks)].filter(Boolean).join('\n\n')
}

export async function packageVersions() {
  const read = async (file) => {
    try {
      return JSON.parse(await readFile(file, 'utf8')).version
    } catch {
      return null
    }
  }
  const names = ['ioredis', 'redis', '@redis/client', '@valkey/valkey-glide', 'bentocache']
  const out = { ferrocache: await read(path.join(REPO_DIR, 'package.json')) }
  for (const n of names) out[n] = await read(path.join(BENCH_DIR, 'node_modules', n, 'package.json'))
  out['@valkey/valkey-glide native'] = await read(
    path.join(
      BENCH_DIR,
      'node_modules',
      '@valkey',
      `valkey-glide-${process.platform}-${process.arch}-gnu`,
      'package.json',
    ),
  )
  return out
}

export function machineInfo(serverInfo) {
  const cpus = os.cpus()
  return {
    cpu: cpus[0]?.model ?? 'unknown',
    cores: cpus.length,
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    os: `${os.type()} ${os.release()} ${process.arch}`,
    node: process.version,
    valkey: serverInfo.valkey_version ?? serverInfo.redis_version ?? 'unknown',
    server: serverInfo.server_name ?? 'redis',
  }
}

/** The scaling tables and charts, and the memory figures (empty when the run had neither). */
function extraSections({ blocks, memory }, chartDir) {
  const out = []
  const scaling = blocks.find((b) => b.type === 'scaling')
  if (scaling) {
    out.push(
      `Scaling (\`get\` hits; medians of ${scaling.rounds} rounds × ${scaling.sliceMs} ms; ratio = ferrocache ÷ the better of the two peers shown):`,
      '',
    )
    for (const c of scalingCharts(scaling)) out.push(`![${c.file.replace('.svg', '')}](${chartDir}${c.file})`)
    out.push('', scalingTables(scaling))
  }
  if (memory) out.push(...memoryLines(memory).map((l) => `- ${l}`), '')
  return out
}

const STEAL_NOTE =
  'Per-round pairs = median over rounds of the ratio within one round. Host steal = the share of the ' +
  "host's CPU time a hypervisor gave to others during the timed slices (/proc/stat), median over the " +
  "case's rounds: a ratio measured while it is high says more about the host than about the clients. "

export function renderMarkdown({ blocks, machine, options, versions, date, memory }) {
  const pk = Object.entries(versions)
    .filter(([, v]) => v)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ')
  return [
    '# ferrocache benchmark',
    '',
    `${date} · ${options.quick ? 'quick' : 'full'} run · ${options.rounds} rounds × ${options.sliceMs} ms per client, ` +
      `median over rounds · ${machine.server} ${machine.valkey} · Node ${machine.node} · ${machine.cpu} (${machine.cores} cores)`,
    '',
    `Packages: ${pk}.`,
    '',
    'All clients hit the same Valkey in the same run, alternating in rounds. Only the ratios within one run mean ' +
      'anything: the machine is shared and noisy. bytes/op is measured on the server (INFO stats, input + output). ' +
      'ratio = ferrocache ops/s ÷ best peer ops/s. For getMany/setMany one op is one call of 100 keys. ' +
      STEAL_NOTE +
      'getorset-hit compares ferrocache with itself on the same hits: ratio = median over rounds of ' +
      'getOrSet ops/s ÷ get ops/s measured back to back in that round. ' +
      'stampede: loader calls (counted in Valkey) and wall time from the shared start until the last of ' +
      'the concurrent callers got its value, median over rounds with a fresh key each round.',
    '',
    renderTables(blocks),
    '',
    ...extraSections({ blocks, memory }, ''),
    ...blocks.flatMap((b) => summaryLine(b).split('\n')).map((l) => `- ${l}`),
    '',
  ].join('\n')
}

export async function writeResults(report) {
  const dir = path.join(BENCH_DIR, 'results')
  await mkdir(dir, { recursive: true })
  await writeFile(path.join(dir, 'latest.md'), renderMarkdown(report))
  await writeFile(path.join(dir, 'latest.json'), JSON.stringify(report, null, 2) + '\n')
  const files = ['bench/results/latest.md', 'bench/results/latest.json']
  const scaling = report.blocks.find((b) => b.type === 'scaling')
  for (const c of scaling ? scalingCharts(scaling, report.date) : []) {
    await writeFile(path.join(dir, c.file), c.svg)
    files.push(`bench/results/${c.file}`)
  }
  return files
}

const README_START =
  '<!-- bench:start (generated by `node bench/report.mjs --readme` from bench/results/latest.json) -->'
const README_END = '<!-- bench:end -->'

/** The README's generated benchmark part: run line, ratio table, charts, memory figures. */
export function readmeSection(report) {
  const { machine, options, versions, date, blocks } = report
  const v = (n) => (versions[n] ? ` ${versions[n]}` : '')
  const rows = [
    '| case | concurrency | ferrocache ops/s | best peer | best peer ops/s | ratio | per-round pairs | p50 µs (ferrocache · peer) | host steal |',
    '| --- | ---: | ---: | --- | ---: | ---: | ---: | --- | ---: |',
  ]
  for (const b of blocks) {
    if (b.type || !b.bestPeer) continue
    const fc = b.clients.find((c) => c.kind === 'subject')
    const peer = b.clients.find((c) => c.name === b.bestPeer.name)
    rows.push(
      `| ${b.case} | ${b.concurrency} | ${int(fc?.opsPerSec)} | ${b.bestPeer.name} | ${int(b.bestPeer.opsPerSec)} | ` +
        `${times(b.ratio)} | ${times(b.pairedRatio)} | ${us(fc?.p50)} · ${us(peer?.p50)} | ${b.steal ? pct(b.steal.median) : '–'} |`,
    )
  }
  const goh = blocks.filter((b) => b.type === 'getorset-hit')
  return [
    README_START,
    '',
    `Run of ${date.slice(0, 10)} (${options.quick ? 'quick' : 'full'}: ${options.rounds} rounds × ${options.sliceMs} ms per client): ` +
      `${machine.cpu} × ${machine.cores}, Node ${machine.node}, ${machine.server} ${machine.valkey} on the same host; ` +
      `ioredis${v('ioredis')}, node-redis${v('redis')}, valkey-glide${v('@valkey/valkey-glide')}, bentocache${v('bentocache')}. ` +
      'All clients hit one Valkey in one run, alternating in rounds; medians over rounds; ratio = ferrocache ÷ best peer. ' +
      STEAL_NOTE +
      'Full table: `bench/results/latest.md`.',
    '',
    ...rows,
    '',
    ...goh.map((b) => `- ${summaryLine(b)}`),
    ...(goh.length ? [''] : []),
    ...extraSections(report, 'bench/results/'),
    README_END,
  ].join('\n')
}

/** Rewrites the generated part of README.md (between the markers) from a report. */
export async function writeReadme(report) {
  const file = path.join(REPO_DIR, 'README.md')
  const text = await readFile(file, 'utf8')
  const a = text.indexOf(README_START)
  const b = text.indexOf(README_END)
  if (a < 0 || b < a) throw new Error(`README.md has no ${README_START} … ${README_END} markers`)
  await writeFile(file, text.slice(0, a) + readmeSection(report) + text.slice(b + README_END.length))
}

// `node bench/report.mjs [--readme]`: regenerates latest.md and the charts from latest.json
// (after editing the report code, or to refresh the README from the last full run).
if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const report = JSON.parse(await readFile(path.join(BENCH_DIR, 'results', 'latest.json'), 'utf8'))
  console.log(`wrote ${(await writeResults(report)).join(', ')}`)
  if (process.argv.includes('--readme')) {
    await writeReadme(report)
    console.log('wrote README.md (benchmark section)')
  }
}
