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
  return dir
}

export function removeTempDir(dir) {
  fs.rmSync(dir, { recursive: true, force: true })
  dirs.delete(dir)
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
      live.delete(child)
      resolve({ code, signal })
    })
    child.once('error', (err) => {
      live.delete(child)
      out += `\nspawn ${cmd} failed: ${err.message}`
      resolve({ code: null, signal: null, error: err })
    })
  })
  child.isRunning = () => child.exitCode === null && child.signalCode === null && live.has(child)
  if (child.pid) live.add(child)
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
