/**
 * Malformed messages on the bus channel (#10 is fixed by another change: these cases expect the
 * correct behaviour). Nothing arriving from the network may crash an instance, leave a call
 * unsettled, or stop L1 from being invalidated by later, well-formed messages.
 */
import { afterAll, describe, expect, inject, it } from 'vitest'
import { Cache } from '../../ts/index'
import { valkeyCommand } from '../../scripts/valkey.mjs'
import { uniquePrefix } from '../contract'
import { Calls, noUnhandled, servedFromL1, until } from './track'

const unhandled = noUnhandled()
const BUS = '__ferrocache:bus'
const open: Cache[] = []
afterAll(async () => {
  await Promise.all(open.map((c) => c.close()))
})

const GARBAGE: (string | Buffer)[] = [
  '',
  'not json',
  '{',
  'null',
  '42',
  '{"k":1}',
  '[]',
  '[1,2,3]',
  '["k"]',
  '["k", 1]',
  '["k", null]',
  '["m"]',
  '["m", 5]',
  '["m", "[z-a]"]',
  '["m", "[", "x"]',
  '["m", "' + '*'.repeat(10_000) + '"]',
  '["t", "extra"]',
  '["?"]',
  '["k", "' + 'x'.repeat(100_000) + '"]',
  Buffer.from([0xff, 0xfe, 0x00, 0x5b]),
  JSON.stringify(['k', ...Array.from({ length: 5000 }, (_, i) => `key${i}`)]),
]

describe('malformed bus messages', () => {
  it('are dropped: no crash, every call settles, and L1 still sees well-formed invalidations', async () => {
    const url = inject('valkeyUrl')
    const prefix = uniquePrefix('bus-garbage')
    const a = new Cache({ url, prefix, l1: { maxEntries: 100, ttl: 60 } })
    const b = new Cache({ url, prefix, l1: { maxEntries: 100, ttl: 60 } })
    open.push(a, b)
    await a.set('k', 'v0')
    await servedFromL1(a, 'k')
    const calls = new Calls()
    let n = 0
    for (const message of GARBAGE) {
      n++
      // Requests in flight while the garbage arrives must settle too.
      for (let i = 0; i < 5; i++) {
        void calls.track('get', () => a.get('k'))
        void calls.track('set', () => a.set(`other${i}`, n))
      }
      await valkeyCommand(url, 'PUBLISH', BUS, message)
      await b.set('k', `v${n}`)
      await until(async () => (await a.get('k')) === `v${n}`)
    }
    await calls.settled(10_000)
    calls.expectTypedErrors()
    expect(calls.errors).toEqual([])
    expect(await a.get('k')).toBe(`v${n}`)
    expect(unhandled.map(String)).toEqual([])
  }, 60_000)
})
