/**
 * Under a steady load the event loop keeps turning: completions reach JS in budgeted drains, so
 * timers, sockets (an HTTP server's, the direct connection's) and `setImmediate` callbacks get
 * their turn between them. It used to be otherwise: results arriving while JS handled a chunk woke
 * JS again through the threadsafe function, which Node runs in the same turn when called from
 * inside its own callback (up to 1,000 times), so 16 concurrent `getMany` loops settled ~400–1,000
 * calls in one turn of the loop (~0.3–0.6 s) and a direct-path read waited all that time.
 */
import { describe, expect, inject, it } from 'vitest'
import { cacheFactory } from './contract'

const url = (): string => inject('valkeyUrl')
const { make } = cacheFactory('fairness', () => ({ url: url() }))

/** A ~1 KB record, as an application caches it. */
function record(i: number): Record<string, unknown> {
  return {
    id: i,
    customer: { name: `customer ${i}`, email: `c${i}@example.com`, tier: i % 3 },
    lines: Array.from({ length: 8 }, (_, n) => ({ sku: `sku-${i}-${n}`, qty: n + 1, price: 9.99 + n })),
    note: 'x'.repeat(300),
  }
}

/** The most `getMany` calls settled within one turn of the event loop while `callers` loop. */
async function mostSettledInOneTurn(directSocket: boolean, callers: number, calls: number): Promise<number> {
  const cache = make({ directSocket })
  const keys = Array.from({ length: 100 }, (_, i) => `k${i}`)
  await cache.setMany(keys.map((key, i) => ({ key, value: record(i) })))
  let settled = 0
  let atLastTurn = 0
  let most = 0
  let running = true
  const turn = (): void => {
    most = Math.max(most, settled - atLastTurn)
    atLastTurn = settled
    if (running) setImmediate(turn)
  }
  setImmediate(turn)
  let left = calls
  await Promise.all(
    Array.from({ length: callers }, async () => {
      while (left-- > 0) {
        const got = await cache.getMany(keys)
        expect(got[99]).toEqual(record(99))
        settled++
      }
    }),
  )
  running = false
  most = Math.max(most, settled - atLastTurn)
  return most
}

describe('event-loop fairness', () => {
  for (const directSocket of [false, true]) {
    it(`16 concurrent getMany loops settle a bounded number of calls per loop turn (directSocket ${directSocket})`, async () => {
      const most = await mostSettledInOneTurn(directSocket, 16, 3000)
      // A turn drains for ~2 ms plus one chunk of 8: a few dozen calls at most on any machine,
      // where the same-turn wake-ups let one turn settle hundreds.
      expect(most).toBeGreaterThan(0)
      expect(most).toBeLessThan(200)
    }, 60_000)
  }
})
