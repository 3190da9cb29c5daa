/**
 * Real faults on a real Valkey under a steady workload: stalled (SIGSTOP), killed and restarted on
 * the same port, refusing connections, and a half-open peer that accepts but never answers. Every
 * call settles within commandTimeoutMs (plus generous slack), every error is typed, no read is
 * ever a wrong value, and the cache recovers by itself.
 */
import net from 'node:net'
import { afterAll, describe, expect, it } from 'vitest'
import { Cache } from '../../ts/index'
import { freePort, startValkey, type ValkeyServer } from '../../scripts/valkey.mjs'
import { runWorkload } from './workload'
import { noUnhandled, sleep, until } from './track'

noUnhandled()
// A connect that hangs would take connectTimeoutMs: make it much longer than the command timeout,
// so a call that waits for it is caught by the bound below.
const COMMAND_MS = 200
const CONNECT_MS = 5000
const SLACK_MS = 1500 // 2 shared noisy cores
const BOUND_MS = COMMAND_MS + SLACK_MS

const cleanups: (() => Promise<unknown>)[] = []
afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => {})
})
function open(url: string, prefix: string): Cache {
  const cache = new Cache({ url, prefix, commandTimeoutMs: COMMAND_MS, connectTimeoutMs: CONNECT_MS })
  cleanups.push(() => cache.close())
  return cache
}
async function server(): Promise<ValkeyServer> {
  const s = await startValkey()
  cleanups.push(() => s.stop())
  return s
}
const roundTrip = (cache: Cache, v: string) => async () => {
  await cache.set('probe', v)
  return (await cache.get('probe')) === v
}
const CODES = ['E_TIMEOUT', 'E_CONNECTION']
/** A fresh server, a cache under `prefix` that reached it once, and a workload running on it. */
async function loadedServer(prefix: string) {
  const s = await server()
  const cache = open(s.url, prefix)
  await until(roundTrip(cache, 'before'))
  const load = runWorkload(cache)
  await sleep(200)
  return { s, cache, load }
}

describe('a stalled server (SIGSTOP)', () => {
  it('every call settles within commandTimeoutMs, errors name the right option, recovery by itself', async () => {
    const { s, cache, load } = await loadedServer('stall:')
    s.kill('SIGSTOP')
    await sleep(3000)
    s.kill('SIGCONT')
    const recoveredMs = await until(roundTrip(cache, 'after'))
    await load.stop(BOUND_MS)
    const { calls } = load
    calls.expectTypedErrors(CODES)
    expect(calls.errors.length).toBeGreaterThan(0) // the fault was real
    for (const o of calls.errors) {
      const msg = (o.error as Error).message
      // A timeout names commandTimeoutMs; a connect that timed out names connectTimeoutMs.
      if ((o.error as { code: string }).code === 'E_TIMEOUT') expect(msg).toMatch(/commandTimeoutMs/)
      if (/not ready within/.test(msg)) expect(msg).toMatch(/connectTimeoutMs/)
    }
    console.log(
      `SIGSTOP 3 s: ${calls.outcomes.length} calls, max latency ${Math.round(calls.maxMs())} ms ` +
        `(commandTimeoutMs ${COMMAND_MS}), recovered ${recoveredMs} ms after SIGCONT; ${calls.slowest()}`,
    )
    expect(calls.maxMs()).toBeLessThan(BOUND_MS)
  }, 60_000)
})

describe('a server killed and restarted on the same port (SIGKILL)', () => {
  it('calls fail fast while it is down and succeed again by themselves once it is back', async () => {
    const { s, cache, load } = await loadedServer('restart:')
    s.kill('SIGKILL')
    await sleep(1000)
    const restarted = Date.now()
    await s.restart()
    const upMs = Date.now() - restarted
    const recoveredMs = await until(roundTrip(cache, 'after'))
    await load.stop(BOUND_MS)
    load.calls.expectTypedErrors(CODES)
    expect(load.calls.errors.length).toBeGreaterThan(0)
    console.log(
      `SIGKILL + restart: max latency ${Math.round(load.calls.maxMs())} ms, cache recovered ` +
        `${recoveredMs} ms after the restarted server answered (restart took ${upMs} ms)`,
    )
    expect(load.calls.maxMs()).toBeLessThan(BOUND_MS)
  }, 60_000)
})

describe('nothing listening, and a half-open peer', () => {
  it('a refused port fails fast with E_CONNECTION and recovers when a server starts there', async () => {
    const port = await freePort()
    const cache = open(`redis://127.0.0.1:${port}`, 'refused:')
    const load = runWorkload(cache)
    await sleep(500)
    const s = await startValkey({ port })
    cleanups.push(() => s.stop())
    await until(roundTrip(cache, 'up'))
    await load.stop(BOUND_MS)
    load.calls.expectTypedErrors(CODES)
    expect(load.calls.errors.some((o) => (o.error as { code: string }).code === 'E_CONNECTION')).toBe(true)
    expect(load.calls.maxMs()).toBeLessThan(BOUND_MS)
  }, 60_000)

  it('a peer that accepts connections and never answers: calls settle within commandTimeoutMs', async () => {
    const sockets: net.Socket[] = []
    const hole = net.createServer((s) => sockets.push(s)) // accepts, reads nothing, says nothing
    await new Promise<void>((r) => hole.listen(0, '127.0.0.1', r))
    cleanups.push(async () => {
      sockets.forEach((s) => s.destroy())
      await new Promise((r) => hole.close(r))
    })
    const { port } = hole.address() as net.AddressInfo
    const cache = open(`redis://127.0.0.1:${port}`, 'hole:')
    const load = runWorkload(cache)
    await sleep(1500)
    await load.stop(BOUND_MS)
    load.calls.expectTypedErrors(CODES)
    expect(load.calls.errors.length).toBeGreaterThan(0)
    for (const o of load.calls.errors)
      expect((o.error as Error).message).toMatch(/commandTimeoutMs|connectTimeoutMs/)
    expect(load.calls.maxMs()).toBeLessThan(BOUND_MS)
    expect((await cache.health()).ok).toBe(false)
  }, 60_000)
})
