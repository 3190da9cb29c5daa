// Markdown table, per-case summary lines and the JSON written to bench/results/.
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

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
  const label = `${block.case} c=${block.concurrency}`
  const subject = block.clients.find((c) => c.kind === 'subject')
  const best = block.bestPeer
  if (!best) return `${label}: no peer result`
  if (!subject || subject.status !== 'ok') {
    return `${label}: ferrocache ${subject ? subject.status + ': ' + subject.reason : 'not run'} (best peer: ${best.name}, ${int(best.opsPerSec)} ops/s)`
  }
  return `${label}: ferrocache/best-peer = ${times(block.ratio)} (best peer: ${best.name})`
}

export function markdownTable(blocks) {
  const lines = [
    '| case | concurrency | client | ops/s | p50 µs | p99 µs | bytes/op | ratio |',
    '| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: |',
  ]
  for (const b of blocks) {
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

export function renderMarkdown({ blocks, machine, options, versions, date }) {
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
      'ratio = ferrocache ops/s ÷ best peer ops/s. For getMany/setMany one op is one call of 100 keys.',
    '',
    markdownTable(blocks),
    '',
    ...blocks.map((b) => `- ${summaryLine(b)}`),
    '',
  ].join('\n')
}

export async function writeResults(report) {
  const dir = path.join(BENCH_DIR, 'results')
  await mkdir(dir, { recursive: true })
  await writeFile(path.join(dir, 'latest.md'), renderMarkdown(report))
  await writeFile(path.join(dir, 'latest.json'), JSON.stringify(report, null, 2) + '\n')
  return ['bench/results/latest.md', 'bench/results/latest.json']
}
