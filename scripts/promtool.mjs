// Finds promtool (Prometheus' checker for the metrics tests), or fetches Debian's `prometheus`
// package with `apt-get download` (no root needed) and unpacks promtool from it into .promtool/.
// Why not require it installed: `npm test` must work on a fresh machine; Debian's package is the
// only registry copy of promtool, and unpacking it needs neither root nor a system-wide install.
// Usage: `node scripts/promtool.mjs` prints the path (fetching first if needed).
import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const DIR = path.join(ROOT, '.promtool')
const BIN = path.join(DIR, 'usr', 'bin', 'promtool')

function onPath(name) {
  for (const dir of (process.env.PATH || '').split(path.delimiter)) {
    const p = path.join(dir, name)
    try {
      fs.accessSync(p, fs.constants.X_OK)
      return p
    } catch {}
  }
  return null
}

/** promtool's path: $PROMTOOL, PATH, .promtool/, else fetched from Debian's `prometheus` package. */
export function promtool() {
  if (process.env.PROMTOOL) return process.env.PROMTOOL
  const found = onPath('promtool')
  if (found) return found
  if (fs.existsSync(BIN)) return BIN
  if (!onPath('apt-get') || !onPath('dpkg-deb')) {
    throw new Error(
      'promtool not found and no apt-get to fetch it: install Prometheus (promtool) or set PROMTOOL',
    )
  }
  const work = fs.mkdtempSync(path.join(ROOT, '.promtool-dl-'))
  try {
    const download = () =>
      execFileSync('apt-get', ['download', 'prometheus'], { cwd: work, stdio: ['ignore', 'ignore', 'pipe'] })
    try {
      download()
    } catch (e) {
      // A fresh machine may have no package lists yet; as root, fetch them once and retry.
      if (process.getuid?.() !== 0) throw e
      execFileSync('apt-get', ['update', '-q'], { stdio: ['ignore', 'ignore', 'pipe'] })
      download()
    }
    const deb = fs.readdirSync(work).find((f) => f.endsWith('.deb'))
    if (!deb) throw new Error('apt-get download prometheus produced no .deb (run apt-get update first?)')
    const tmp = `${DIR}.tmp-${process.pid}`
    execFileSync('dpkg-deb', ['-x', path.join(work, deb), tmp])
    fs.rmSync(DIR, { recursive: true, force: true })
    fs.renameSync(tmp, DIR)
  } finally {
    fs.rmSync(work, { recursive: true, force: true })
  }
  return BIN
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  console.log(promtool())
}
