/**
 * A getOrSet lock owner SIGKILLed mid-load (a real separate process): every in-process caller
 * waiting on it settles, typed or with the value, once the lease expires; nobody reads a value
 * that was never loaded, and the entry is loaded exactly once more.
 */
import { afterAll, describe, expect, inject, it } from 'vitest'
import { Cache } from '../../ts/index'
import { valkeyCommand } from '../../scripts/valkey.mjs'
import { run } from '../fixtures/run-worker'
import { Calls, noUnhandled, sleep } from './track'

noUnhandled()
const open: Cache[] = []
afterAll(async () => {
  await Promise.all(open.map((c) => c.close()))
})

describe('a lock owner killed mid-load', () => {
  it('its waiters here take over once the lease expires; all settle with the value loaded here', async () => {
    const url = inject('valkeyUrl')
    const key = `owner-killed-${process.pid}-${Date.now()}`
    const counter = `count:${key}`
    const owner = run([url, key, counter, '1', '50', '0', 'hang', '800'])
    owner.done.catch(() => {}) // killed on purpose
    expect(await owner.firstLine).toBe('LOADING')
    // Same prefix as the worker fixture, so the same key and lock.
    const cache = new Cache({ url, prefix: 'flight:' })
    open.push(cache)
    const calls = new Calls()
    let loads = 0
    const loader = async () => {
      loads++
      await valkeyCommand(url, 'INCR', counter)
      return { by: 'here' }
    }
    for (let i = 0; i < 20; i++) {
      void calls.track('getOrSet', () => cache.getOrSet(key, loader, { ttl: 60, lockTtlMs: 800 }))
    }
    await sleep(100)
    owner.child.kill('SIGKILL')
    await calls.settled(15_000)
    calls.expectTypedErrors()
    expect(calls.errors).toEqual([])
    for (const o of calls.outcomes) expect(o.value).toEqual({ by: 'here' })
    expect(loads).toBe(1)
    expect(Number(await valkeyCommand(url, 'GET', counter))).toBe(2) // the dead owner's and ours
  }, 30_000)
})
