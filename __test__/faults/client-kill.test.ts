/**
 * `CLIENT KILL` of each connection type under load: the normal (command) connections and the
 * pub/sub one. Every call settles and is typed, no read is a wrong or stale value, and the cache
 * (L1 coherence included) recovers by itself.
 */
import { describe, expect, it } from 'vitest'
import { Cache } from '../../ts/index'
import { valkeyCommand } from '../../scripts/valkey.mjs'
import { uniquePrefix } from '../contract'
import { runWorkload } from './workload'
import { noUnhandled, ownValkey, servedFromL1, sleep, until } from './track'

noUnhandled()
// A server of our own: CLIENT KILL on the shared one would hit other test files' connections.
const own = ownValkey()
const open = own.open

describe('CLIENT KILL', () => {
  it('of the normal connections: calls settle typed, and the cache reconnects by itself', async () => {
    const url = own.server.url
    const cache = new Cache({ url, prefix: uniquePrefix('kill-normal'), poolSize: 2 })
    open.push(cache)
    await cache.set('warm', 1)
    const load = runWorkload(cache)
    for (let i = 0; i < 5; i++) {
      await sleep(100)
      await valkeyCommand(url, 'CLIENT', 'KILL', 'TYPE', 'normal', 'SKIPME', 'yes')
    }
    await until(async () => {
      await cache.set('probe', 'back')
      return (await cache.get('probe')) === 'back'
    })
    await load.stop(5000)
    load.calls.expectTypedErrors(['E_CONNECTION', 'E_TIMEOUT'])
  }, 30_000)

  it('of the pub/sub connection: L1 never serves a value overwritten elsewhere once the write is seen', async () => {
    const url = own.server.url
    const prefix = uniquePrefix('kill-pubsub')
    const a = new Cache({ url, prefix, l1: { maxEntries: 100, ttl: 60 } })
    const b = new Cache({ url, prefix, l1: { maxEntries: 100, ttl: 60 } })
    open.push(a, b)
    await a.set('k', 'v0')
    // L1 on: A keeps the value in process.
    await servedFromL1(a, 'k')
    for (let round = 1; round <= 3; round++) {
      await valkeyCommand(url, 'CLIENT', 'KILL', 'TYPE', 'pubsub')
      await b.set('k', `v${round}`)
      // A must converge to the new value (its bus resubscribes and clears L1) ...
      await until(async () => (await a.get('k')) === `v${round}`)
      // ... and never go back to an older one.
      for (let i = 0; i < 20; i++) expect(await a.get('k')).toBe(`v${round}`)
    }
    // And L1 works again after the reconnects.
    await servedFromL1(a, 'k')
  }, 30_000)
})
