/**
 * Errors classified by their structure, against a real Valkey: NOSCRIPT is `E_NO_SCRIPT` (so the
 * script runner reloads a script the server forgot), NOPERM is `E_NO_PERMISSION` with what to
 * grant, and the native engine's `async` calls reject with `code` already set.
 */
import { describe, expect, inject, it } from 'vitest'
import { valkeyCommand } from '../scripts/valkey.mjs'
import { Cache, RateLimiter, SessionStore } from '../ts/index'
import type { NativeEngine } from '../ts/boundary/binding'
import { cacheFactory, rejection } from './contract'

const { make: makeCache } = cacheFactory('scripts', () => ({ url: inject('valkeyUrl') }))
/** The cache's native engine, to see its rejections before the TypeScript layer touches them. */
function engineOf(cache: Cache): NativeEngine {
  return (cache as unknown as { shared: { transport: { engine: NativeEngine } } }).shared.transport.engine
}

describe('NOSCRIPT', () => {
  it('is E_NO_SCRIPT, not a generic server error', async () => {
    const cache = makeCache()
    const key = cache.prefix + 'k'
    const err = await rejection(cache._command(key, ['EVALSHA', 'f'.repeat(40), '1', key]))
    expect(err.code).toBe('E_NO_SCRIPT')
    expect(err.message).toMatch(/EVAL/)
  })

  it('after SCRIPT FLUSH the rate limiter and the session store load their scripts again', async () => {
    const cache = makeCache()
    const limiter = new RateLimiter(cache, { limit: 3, window: 60 })
    const sessions = new SessionStore<{ n: number }>(cache, { ttl: 60 })
    expect((await limiter.limit('u')).remaining).toBe(2)
    const id = await sessions.create({ n: 1 })
    expect(await sessions.set(id, { n: 2 })).toBe(true)
    await valkeyCommand(inject('valkeyUrl'), 'SCRIPT', 'FLUSH')
    const again = await limiter.limit('u')
    expect(again.success).toBe(true)
    expect(again.remaining).toBe(1) // the count survived: only the script was gone
    expect(await sessions.set(id, { n: 3 })).toBe(true)
    expect(await sessions.get(id)).toEqual({ n: 3 })
  })
})

describe('NOPERM', () => {
  it('a user without +@scripting gets E_NO_PERMISSION saying what to grant', async () => {
    const url = new URL(inject('valkeyUrl'))
    const user = `noscript${process.pid}`
    await valkeyCommand(url.href, 'ACL', 'SETUSER', user, 'on', '>pw', '~*', '&*', '+@all', '-@scripting')
    try {
      const cache = makeCache({ url: `redis://${user}:pw@${url.host}` })
      await cache.set('k', 1) // keys and plain commands are allowed
      const err = await rejection(new RateLimiter(cache, { limit: 3, window: 60 }).limit('u'))
      expect(err.code).toBe('E_NO_PERMISSION')
      expect(err.message).toMatch(/ACL SETUSER/)
      expect(err.message).toMatch(/\+@scripting/)
    } finally {
      await valkeyCommand(url.href, 'ACL', 'DELUSER', user)
    }
  })
})

describe('native async rejections', () => {
  it('carry their code, and the message without it', async () => {
    const engine = engineOf(makeCache())
    const bad = await engine.scanKeys(0, 'not a cursor', '*').then(
      () => undefined,
      (e: unknown) => e as Error & { code?: unknown },
    )
    expect(bad?.code).toBe('E_INVALID_OPTION')
    expect(bad?.message).toMatch(/^scanKeys: bad cursor/)
    const down = engineOf(makeCache({ url: 'redis://127.0.0.1:1', connectTimeoutMs: 200 }))
    const unreachable = await down.ping().then(
      () => undefined,
      (e: unknown) => e as Error & { code?: unknown },
    )
    expect(unreachable?.code).toBe('E_CONNECTION')
    expect(unreachable?.message).not.toMatch(/^E_/)
  })
})
