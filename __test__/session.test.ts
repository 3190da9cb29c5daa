/** SessionStore on a real Valkey and in memory mode. */
import { describe, expect, inject, it } from 'vitest'
import { valkeyCommand } from '../scripts/valkey.mjs'
import { SessionStore, type CacheOptions } from '../ts/index'
import { cacheFactory, rejection } from './contract'

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const { make: makeCache } = cacheFactory('sess', () => ({}))

interface Data {
  userId: string
  since: Date
  roles?: Set<string>
}

const modes: [string, () => CacheOptions][] = [
  ['valkey', () => ({ url: inject('valkeyUrl') })],
  ['memory', () => ({})],
]

for (const [mode, base] of modes) {
  describe(`SessionStore (${mode})`, () => {
    it('create/get round-trips a Date (and a Set); ids are 256-bit base64url and unique', async () => {
      const sessions = new SessionStore<Data>(makeCache(base()), { ttl: 60 })
      const since = new Date('2024-02-29T12:00:00Z')
      const id = await sessions.create({ userId: 'u1', since, roles: new Set(['admin']) })
      expect(id).toMatch(/^[A-Za-z0-9_-]{43}$/)
      const got = await sessions.get(id)
      expect(got).toEqual({ userId: 'u1', since, roles: new Set(['admin']) })
      expect(got?.since).toBeInstanceOf(Date)
      const ids = await Promise.all(Array.from({ length: 50 }, () => sessions.create({ userId: 'x', since })))
      expect(new Set(ids).size).toBe(50)
    })

    it('set updates an existing session and never brings back a destroyed one', async () => {
      const sessions = new SessionStore<Data>(makeCache(base()), { ttl: 60 })
      const id = await sessions.create({ userId: 'u1', since: new Date(0) })
      expect(await sessions.set(id, { userId: 'u1', since: new Date(1) })).toBe(true)
      expect((await sessions.get(id))?.since).toEqual(new Date(1))
      expect(await sessions.destroy(id)).toBe(true)
      expect(await sessions.get(id)).toBeUndefined()
      expect(await sessions.set(id, { userId: 'u1', since: new Date(2) })).toBe(false)
      expect(await sessions.get(id)).toBeUndefined()
      expect(await sessions.touch(id)).toBe(false)
      expect(await sessions.destroy(id)).toBe(false)
    })

    it('a missing id: get resolves undefined, touch resolves false', async () => {
      const sessions = new SessionStore(makeCache(base()), { ttl: 60 })
      const missing = 'A'.repeat(43)
      expect(await sessions.get(missing)).toBeUndefined()
      expect(await sessions.touch(missing)).toBe(false)
    })

    it('touch renews the ttl (ttl 1 s: touched at 0.6 s, alive at 1.3 s, gone after idling)', async () => {
      const sessions = new SessionStore<Data>(makeCache(base()), { ttl: 1 })
      const id = await sessions.create({ userId: 'u1', since: new Date(0) })
      const untouched = await sessions.create({ userId: 'u2', since: new Date(0) })
      await sleep(600)
      expect(await sessions.touch(id)).toBe(true)
      expect(await sessions.get(untouched)).toBeDefined() // a plain get does not renew
      await sleep(700) // t = 1.3 s
      expect(await sessions.get(id)).toEqual({ userId: 'u1', since: new Date(0) })
      expect(await sessions.get(untouched)).toBeUndefined()
      await sleep(600) // idle since the touch at 0.6 s: expired at 1.6 s
      expect(await sessions.get(id)).toBeUndefined()
      expect(await sessions.touch(id)).toBe(false)
    })

    it('sliding: get renews the ttl too', async () => {
      const sessions = new SessionStore<Data>(makeCache(base()), { ttl: 1, sliding: true })
      const id = await sessions.create({ userId: 'u1', since: new Date(0) })
      for (let i = 0; i < 3; i++) {
        await sleep(600)
        expect(await sessions.get(id)).toBeDefined() // 1.8 s in total: alive only if each get renewed
      }
      await sleep(1300)
      expect(await sessions.get(id)).toBeUndefined()
    })

    it('malformed ids reject with E_INVALID_KEY and never appear in the message', async () => {
      const sessions = new SessionStore(makeCache(base()), { ttl: 60 })
      const bad = [
        'short-id-XYZ',
        'Q'.repeat(42) + '!',
        'Q'.repeat(44),
        'Q'.repeat(42) + '=',
        '',
        `${'Q'.repeat(43)}\n`,
      ]
      for (const id of bad) {
        for (const op of [
          () => sessions.get(id),
          () => sessions.set(id, 1),
          () => sessions.touch(id),
          () => sessions.destroy(id),
        ]) {
          const e = await rejection(op())
          expect(e.code).toBe('E_INVALID_KEY')
          if (id !== '') expect(e.message).not.toContain(id)
          expect(e.message).not.toContain('QQQQ')
        }
      }
      expect((await rejection(sessions.get(42 as never))).code).toBe('E_INVALID_KEY')
      expect(() => new SessionStore(makeCache(base()), {} as never)).toThrow(/ttl/)
      expect(() => new SessionStore(makeCache(base()), { ttl: 0 })).toThrow(
        expect.objectContaining({ code: 'E_INVALID_OPTION' }),
      )
    })
  })
}

describe('SessionStore keys', () => {
  it('live under <prefix>session: with the ttl set, and writes leave no temporary keys behind', async () => {
    const url = inject('valkeyUrl')
    const cache = makeCache({ url })
    const sessions = new SessionStore(cache, { ttl: 30 })
    const id = await sessions.create({ n: 1 })
    await sessions.set(id, { n: 2 })
    const keys = (await valkeyCommand(url, 'KEYS', `${cache.prefix}*`)) as string[]
    expect(keys).toEqual([`${cache.prefix}session:{${id}}`])
    const pttl = Number(await valkeyCommand(url, 'PTTL', keys[0]))
    expect(pttl).toBeGreaterThan(25_000)
    expect(pttl).toBeLessThanOrEqual(30_000)
  })
})
