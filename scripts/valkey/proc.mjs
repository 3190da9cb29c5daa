// Child-process bookkeeping: output tails, graceful stop, and no orphans when the parent exits.
import { spawn } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'

const live = new Set()
const dirs = new Set()
let hooked = false

function killAll() {
  for (const child of live) {
    try {
      child.kill('SIGKILL')
    } catch {
      // already gone
    }
  }
  live.clear()
  for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true })
  dirs.clear()
}

function onSignal(signal) {
  killAll()
  // Behave as if we were not listening: if nobody else handles the signal, die of it.
  process.removeListener(signal, onSignal)
  if (process.listenerCount(signal) === 0) process.kill(process.pid, signal)
}

// The 'exit' hook misses a parent that is SIGKILLed, or a worker thread that is terminated. So a
// tiny shell watchdog, fed "+p PID" / "-p PID" / "+d DIR" / "-d DIR" lines on its stdin, kills and
// removes whatever is still registered once that pipe closes, however this side ended.
const WATCHDOG_SH = `
trap '' INT TERM HUP
pids=' '; dirs=' '
while IFS= read -r line; do
  v=\${line#?? }
  case "$line" in
    '+p '*) pids="$pids$v " ;;
    '-p '*) pids=$(printf '%s' "$pids" | sed "s| $v | |") ;;
    '+d '*) dirs="$dirs$v " ;;
    '-d '*) dirs=$(printf '%s' "$dirs" | sed "s| $v | |") ;;
  esac
done
for p in $pids; do kill -9 "$p" 2>/dev/null; done
for d in $dirs; do rm -rf "$d"; done
`
let watchdog
function tell(line) {
  if (watchdog === undefined) {
    try {
      watchdog = spawn('sh', ['-c', WATCHDOG_SH], { stdio: ['pipe', 'ignore', 'ignore'], detached: true })
      watchdog.on('error', () => (watchdog = null))
      watchdog.stdin.on('error', () => (watchdog = null))
      watchdog.unref()
      watchdog.stdin.unref?.()
    } catch {
      watchdog = null
    }
  }
  if (watchdog && !/\s/.test(line.slice(3))) watchdog.stdin.write(`${line}\n`)
}

function hook() {
  if (hooked) return
  hooked = true
  process.on('exit', killAll)
  for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(s, onSignal)
}

/** A fresh temp dir, removed when this process exits (or earlier by removeTempDir). */
export function makeTempDir(tag) {
  hook()
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `ferrocache-${tag}-`))
  dirs.add(dir)
  tell(`+d ${dir}`)
  return dir
}

export function removeTempDir(dir) {
  fs.rmSync(dir, { recursive: true, force: true })
  dirs.delete(dir)
  tell(`-d ${dir}`)
}

/**
 * Spawns a child that is SIGKILLed when this process exits, and that does not by itself keep this
 * process alive. `child.tail()` returns the last ~16 KiB of its stdout+stderr; `child.exited` resolves
 * with `{ code, signal }`.
 */
export function spawnTracked(cmd, args, opts = {}) {
  hook()
  const child = spawn(cmd, args, { ...opts, stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  const keep = (chunk) => {
    out = (out + chunk.toString('utf8')).slice(-16_384)
  }
  child.stdout.on('data', keep)
  child.stderr.on('data', keep)
  child.tail = (lines = 40) => out.split('\n').slice(-lines).join('\n')
  child.exited = new Promise((resolve) => {
    child.once('exit', (code, signal) => {
      if (live.delete(child)) tell(`-p ${child.pid}`)
      resolve({ code, signal })
    })
    child.once('error', (err) => {
      live.delete(child)
      out += `\nspawn ${cmd} failed: ${err.message}`
      resolve({ code: null, signal: null, error: err })
    })
  })
  child.isRunning = () => child.exitCode === null && child.signalCode === null && live.has(child)
  if (child.pid) {
    live.add(child)
    tell(`+p ${child.pid}`)
  }
  child.unref()
  child.stdout.unref?.()
  child.stderr.unref?.()
  return child
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves once the child has exited. */
export async function stopChild(child, graceMs = 3000) {
  if (!child.isRunning()) return child.exited
  child.kill('SIGTERM')
  let timer
  const timeout = new Promise((r) => (timer = setTimeout(r, graceMs, 'timeout')))
  if ((await Promise.race([child.exited, timeout])) === 'timeout') child.kill('SIGKILL')
  clearTimeout(timer)
  return child.exited
}
