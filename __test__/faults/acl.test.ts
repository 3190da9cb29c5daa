/**
 * ACL users (#17): a key outside the user's key patterns is E_NO_PERMISSION naming the key, not
 * E_AUTH; a user without channel permission plus `l1` is reported once, backs off, and does not
 * delay getOrSet.
 */
import { afterAll, describe, expect, it } from 'vitest'
import { Cache, CacheError } from '../../ts/index'
import { startValkey, valkeyCommand, type ValkeyServer } from '../../scripts/valkey.mjs'
import { rejection } from '../contract'
import { noUnhandled, sleep } from './track'

noUnhandled()
let server: ValkeyServer
const cleanups: (() => Promise<unknown>)[] = []
afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => {})
})
async function valkey(): Promise<ValkeyServer> {
  if (server) return server
  server = await startValkey()
  cleanups.push(() => server.stop())
  // `keys`: keys under app:, every channel; `nochan`: keys under app:, no channel at all.
  await valkeyCommand(server.url, 'ACL', 'SETUSER', 'keys', 'on', '>pw', '~app:*', '&*', '+@all')
  await valkeyCommand(server.url, 'ACL', 'SETUSER', 'nochan', 'on', '>pw', '~*', 'resetchannels', '+@all')
  return server
}
function open(user: string, extra: ConstructorParameters<typeof Cache>[0] = {}): Cache {
  const cache = new Cache({ url: `redis://${user}:pw@127.0.0.1:${server.port}`, ...extra })
  cleanups.push(() => cache.close())
  return cache
}

describe('a prefix outside the user key patterns', () => {
  it('rejects E_NO_PERMISSION naming the key, while the right prefix works', async () => {
    await valkey()
    const ok = open('keys', { prefix: 'app:' })
    await ok.set('k', 1)
    expect(await ok.get('k')).toBe(1)
    const outside = open('keys', { prefix: 'other:' })
    const err = await rejection(outside.set('k', 1))
    expect(err.code).toBe('E_NO_PERMISSION')
    expect(err.message).toContain("'other:k'")
    expect(err.message).not.toMatch(/password/)
    expect((await rejection(outside.delete('k'))).code).toBe('E_NO_PERMISSION')
    // A read is refused too: a misconfiguration is reported, not hidden as a miss.
    expect((await rejection(outside.get('k'))).code).toBe('E_NO_PERMISSION')
    expect((await rejection(outside.getMany(['k', 'j']))).code).toBe('E_NO_PERMISSION')
    expect((await rejection(outside.getOrSet('k', () => 1))).code).toBe('E_NO_PERMISSION')
  })

  it('a wrong password stays E_AUTH', async () => {
    await valkey()
    const bad = new Cache({ url: `redis://keys:nope@127.0.0.1:${server.port}`, prefix: 'app:' })
    cleanups.push(() => bad.close())
    expect((await rejection(bad.set('k', 1))).code).toBe('E_AUTH')
  })
})

describe('a user without channel permission, with l1', () => {
  it('is reported once as E_NO_PERMISSION, backs off, and getOrSet does not wait for the bus', async () => {
    await valkey()
    const warnings: unknown[] = []
    const onWarning = (w: unknown) => warnings.push(w)
    process.on('warning', onWarning)
    cleanups.push(async () => process.off('warning', onWarning))
    const connectionsBefore = await connectionsReceived()
    // A long connectTimeoutMs: if getOrSet waited for the bus it would wait that long.
    const cache = open('nochan', { prefix: 'nochan:', l1: { maxEntries: 100 }, connectTimeoutMs: 20_000 })
    const first = cache.getOrSet('k', () => 'loaded', { ttl: 60 })
    const bounded = await Promise.race([first, sleep(5000).then(() => 'still waiting')])
    expect(bounded).toBe('loaded')
    expect(await cache.get('k')).toBe('loaded') // the cache works without its bus
    await sleep(3000)
    const ours = warnings.filter((w) => w instanceof CacheError)
    expect(ours.map((w) => (w as CacheError).code)).toEqual(['E_NO_PERMISSION'])
    expect((ours[0] as Error).message).toContain('__ferrocache:bus')
    expect((ours[0] as Error).message).toMatch(/channel/)
    // Backing off: a handful of subscription attempts in 3 s, not one every 50 ms.
    expect((await connectionsReceived()) - connectionsBefore).toBeLessThan(15)
  }, 30_000)
})

async function connectionsReceived(): Promise<number> {
  const info = String(await valkeyCommand(server.url, 'INFO', 'stats'))
  return Number(/total_connections_received:(\d+)/.exec(info)![1])
}
