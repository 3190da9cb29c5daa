/** What happens when Valkey misbehaves: foreign data, wrong password, down, back up, TLS. */
import { afterAll, describe, expect, inject, it } from 'vitest'
import { Cache } from '../ts/index'
import { freePort, startTlsValkey, startValkey, valkeyCommand } from '../scripts/valkey.mjs'
import { rejection, uniquePrefix } from './contract'

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const cleanups: (() => Promise<unknown>)[] = []
afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => {})
})
function track(c: Cache): Cache {
  cleanups.push(() => c.close())
  return c
}

describe('values Valkey hands back', () => {
  it('foreign, corrupt and future-format values are misses plus counted errors', async () => {
    const url = inject('valkeyUrl')
    const prefix = uniquePrefix('foreign')
    const cache = track(new Cache({ url, prefix }))
    await valkeyCommand(url, 'SET', `${prefix}plain`, '{"written":"by another client"}')
    await cache.set('good', { ok: true })
    const stored = (await valkeyCommand(url, 'GET', `${prefix}good`)) as Buffer | string
    const bytes = Buffer.from(stored as string, 'latin1')
    const corrupt = Buffer.from(bytes)
    corrupt[corrupt.length - 2] ^= 0xff
    const future = Buffer.from(bytes)
    future[2] = 99
    await valkeyCommand(url, 'SET', `${prefix}corrupt`, corrupt)
    await valkeyCommand(url, 'SET', `${prefix}future`, future)
    await valkeyCommand(url, 'LPUSH', `${prefix}list`, 'x') // wrong type
    const before = cache.stats().errors
    expect(await cache.get('good')).toEqual({ ok: true })
    expect(await cache.getMany(['plain', 'corrupt', 'future'])).toEqual([undefined, undefined, undefined])
    expect(await cache.get('list')).toBeUndefined()
    expect(cache.stats().errors - before).toBe(4)
    // getOrSet treats them as misses too and overwrites them with a good value.
    expect(await cache.getOrSet('corrupt', () => 'fresh')).toBe('fresh')
    expect(await cache.get('corrupt')).toBe('fresh')
  })
})

describe('authentication', () => {
  it('a wrong password is E_AUTH, and health says so without throwing', async () => {
    const server = await startValkey({ password: 's3cret' })
    cleanups.push(() => server.stop())
    const good = track(new Cache({ url: `redis://:s3cret@127.0.0.1:${server.port}` }))
    await good.set('k', 1)
    expect(await good.get('k')).toBe(1)
    const bad = track(new Cache({ url: `redis://:wrong@127.0.0.1:${server.port}` }))
    const err = await rejection(bad.set('k', 1))
    expect(err.code).toBe('E_AUTH')
    expect(err.message).toMatch(/password/)
    expect((await rejection(bad.get('k'))).code).toBe('E_AUTH')
    const h = await bad.health()
    expect(h.ok).toBe(false)
    expect(h.error).toMatch(/credentials/)
  })
})

describe('Valkey down', () => {
  it('fails fast while down, never hangs, and recovers by itself when the server comes back', async () => {
    const port = await freePort()
    const cache = track(new Cache({ url: `redis://127.0.0.1:${port}`, prefix: 'down:' }))
    const errorsBefore = cache.stats().errors
    expect(await cache.get('k')).toBeUndefined() // a miss, not a throw
    expect(await cache.getMany(['a', 'b'])).toEqual([undefined, undefined])
    expect((await rejection(cache.set('k', 1))).code).toBe('E_CONNECTION')
    expect(await cache.getOrSet('g', () => 'loaded anyway')).toBe('loaded anyway')
    expect(cache.stats().errors).toBeGreaterThan(errorsBefore)
    expect((await cache.health()).ok).toBe(false)

    const server = await startValkey({ port })
    cleanups.push(() => server.stop())
    let recovered = false
    for (let i = 0; i < 100 && !recovered; i++) {
      recovered = await cache.set('k', 'back').then(
        () => true,
        () => false,
      )
      if (!recovered) await sleep(50)
    }
    expect(recovered).toBe(true)
    expect(await cache.get('k')).toBe('back')

    // And again after the server dies mid-life and restarts on the same port.
    await server.stop()
    expect(await cache.get('k')).toBeUndefined()
    const again = await startValkey({ port })
    cleanups.push(() => again.stop())
    let ok = false
    for (let i = 0; i < 100 && !ok; i++) {
      ok = await cache.set('k2', 2).then(
        () => true,
        () => false,
      )
      if (!ok) await sleep(50)
    }
    expect(ok).toBe(true)
    expect(await cache.get('k2')).toBe(2)
  })

  it('grace serves the last loaded value while Valkey is stopped (fail-safe)', async () => {
    const server = await startValkey()
    const cache = track(new Cache({ url: server.url, prefix: 'failsafe:' }))
    expect(await cache.getOrSet('k', () => 'v1', { ttl: 0.05, grace: 60 })).toBe('v1')
    await server.stop()
    await sleep(80)
    const failing = () => Promise.reject(new Error('db down too'))
    const before = cache.stats().staleServed
    expect(await cache.getOrSet('k', failing, { ttl: 0.05, grace: 60 })).toBe('v1')
    expect(cache.stats().staleServed).toBe(before + 1)
    await expect(cache.getOrSet('other', failing, { grace: 60 })).rejects.toThrow('db down too')
  })
})

describe('TLS', () => {
  it('rediss:// with a private CA works; without trusting the CA it is a connection error', async () => {
    const tls = await startTlsValkey()
    cleanups.push(() => tls.stop())
    const cache = track(new Cache({ url: tls.url, tls: { ca: tls.caPem }, prefix: 'tls:' }))
    await cache.set('k', { secure: new Date(1) })
    expect(await cache.get('k')).toEqual({ secure: new Date(1) })
    expect((await cache.health()).ok).toBe(true)
    const untrusting = track(new Cache({ url: tls.url, prefix: 'tls:' }))
    expect((await rejection(untrusting.set('k', 1))).code).toBe('E_CONNECTION')
    const plain = track(
      new Cache({ url: tls.url.replace('rediss://', 'redis://'), prefix: 'tls:', connectTimeoutMs: 500 }),
    )
    expect(await plain.get('k')).toBeUndefined()
  })
})
