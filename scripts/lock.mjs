// Regenerates package-lock.json from package.json alone: `npm run lock`.
// Run it after adding, removing or changing a dependency (or after merging branches that did), then
// commit package.json and package-lock.json together; `npm ci` (what CI runs) refuses a lock that is
// out of sync.
// Why not plain `npm install`: with no lock, npm starts from what is in node_modules, which holds
// only this machine's platform packages (rollup, esbuild, @napi-rs/*), so the lock misses the other
// platforms' optional entries and `npm ci` then fails elsewhere. Resolving in an empty folder
// records every platform. The lock records no download addresses (omit-lockfile-registry-resolved).
// `--check` only verifies the committed lock; `--install` also runs `npm ci` afterwards.
import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..')
const lockFile = path.join(root, 'package-lock.json')

function npm(args, cwd) {
  const r = spawnSync('npm', args, { cwd, stdio: 'inherit' })
  if (r.status !== 0) throw new Error(`npm ${args.join(' ')} failed (exit ${r.status ?? r.signal})`)
}

/** Throws unless the lock has no `resolved` URLs and covers every platform of its optional packages. */
export function checkLock(text) {
  const lock = JSON.parse(text)
  const resolved = Object.entries(lock.packages).filter(([, v]) => 'resolved' in v)
  if (resolved.length) throw new Error(`package-lock.json records ${resolved.length} download addresses`)
  const names = new Set(Object.keys(lock.packages).map((k) => k.replace(/^.*node_modules\//, '')))
  const missing = []
  for (const [where, pkg] of Object.entries(lock.packages)) {
    for (const dep of Object.keys(pkg.optionalDependencies ?? {}))
      if (!names.has(dep)) missing.push(`${dep} (of ${where || 'root'})`)
  }
  // The project's own platform packages are published with it, not installed from the registry.
  const foreign = missing.filter((m) => !m.startsWith('ferrocache-'))
  if (foreign.length) throw new Error(`package-lock.json lacks optional packages: ${foreign.join(', ')}`)
}

const argv = process.argv.slice(2)
if (argv.includes('--check')) {
  checkLock(fs.readFileSync(lockFile, 'utf8'))
  console.log('package-lock.json: no download addresses, every platform recorded')
} else {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ferrocache-lock-'))
  try {
    for (const f of ['package.json', '.npmrc']) fs.copyFileSync(path.join(root, f), path.join(tmp, f))
    npm(
      [
        'install',
        '--package-lock-only',
        '--ignore-scripts',
        '--no-audit',
        '--no-fund',
        '--omit-lockfile-registry-resolved',
      ],
      tmp,
    )
    const text = fs.readFileSync(path.join(tmp, 'package-lock.json'), 'utf8')
    checkLock(text)
    fs.writeFileSync(lockFile, text)
    console.log('package-lock.json regenerated: commit it with package.json')
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true })
  }
  if (argv.includes('--install')) npm(['ci', '--no-audit', '--no-fund'], root)
}
