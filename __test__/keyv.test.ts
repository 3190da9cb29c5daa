/** `ferrocache/keyv` under the unmodified @keyv/test-suite, memory-only and against Valkey. */
import * as test from 'vitest'
import Keyv from 'keyv'
import { keyvApiTests, keyvIteratorTests, keyvNamespaceTest, keyvValueTests } from '@keyv/test-suite'
import { Cache } from '../ts/index'
import { KeyvFerrocache } from '../ts/keyv'

const { afterAll, describe, expect, inject, it } = test

const caches: Cache[] = []
afterAll(() => Promise.all(caches.map((c) => c.close())))

describe.each([
  ['memory-only', () => ({})],
  ['Valkey', () => ({ url: inject('valkeyUrl') })],
])('KeyvFerrocache (%s)', (_mode, opts) => {
  const cache = new Cache({ ...opts(), prefix: `keyv${process.pid}:` })
  caches.push(cache)
  const store = () => new KeyvFerrocache(cache)
  keyvApiTests(test, Keyv, store)
  keyvValueTests(test, Keyv, store)
  keyvNamespaceTest(test, Keyv, store)
  keyvIteratorTests(test, Keyv, store)

  it('stores an entry without ttl with no expiry, and a ttl in milliseconds', async () => {
    const keyv = new Keyv({ store: store(), namespace: 'exp' })
    await keyv.set('forever', 1)
    await keyv.set('brief', 1, 60_000)
    const forever = cache.namespace('exp')
    expect(await forever.get('forever')).toBeDefined()
    expect(await keyv.get('brief')).toBe(1)
  })

  it('closes a cache it created on disconnect(), not one it was given', async () => {
    const own = new KeyvFerrocache({ ...opts(), prefix: 'keyvown:' })
    await own.set('k', 'v')
    await own.disconnect()
    await expect(own.get('k')).rejects.toMatchObject({ code: 'E_CLOSED' })
    const shared = store()
    await shared.disconnect()
    expect(await shared.set('k', 'v')).toBe(true)
  })
})
