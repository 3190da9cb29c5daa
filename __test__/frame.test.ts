/** One request that cannot be framed or read fails alone: its batch-mates go ahead, nothing throws. */
import { describe, expect, inject, it } from 'vitest'
import { Cache, CacheError } from '../ts/index'

for (const mode of ['memory', 'valkey'] as const) {
  describe(`request frames (${mode})`, () => {
    it('a long prefix with tags neither throws nor poisons a get of the same tick', async () => {
      const cache = new Cache({
        ...(mode === 'valkey' ? { url: inject('valkeyUrl') } : {}),
        prefix: 'p'.repeat(65530) + `${process.pid}`.slice(-4),
        maxKeyBytes: 65536,
      })
      try {
        let write: Promise<void> | undefined
        expect(() => {
          write = cache.set('k', 1234, { tags: ['t'] })
        }).not.toThrow()
        const read = cache.get('o')
        const tooLong = cache.set('x'.repeat(10), 1) // over maxKeyBytes with the prefix: fails alone
        const [w, r, t] = await Promise.allSettled([write, read, tooLong])
        expect(w).toEqual({ status: 'fulfilled', value: undefined })
        expect(r).toEqual({ status: 'fulfilled', value: undefined })
        expect(t.status).toBe('rejected')
        const err = (t as PromiseRejectedResult).reason
        expect(err).toBeInstanceOf(CacheError)
        expect(err.code).toBe('E_INVALID_KEY')
        expect(await cache.get('k')).toBe(1234)
        await cache.invalidateTags(['t'])
        expect(await cache.get('k')).toBeUndefined()
      } finally {
        await cache.close()
      }
    })
  })
}
