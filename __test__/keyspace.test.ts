/** User keys never reach the internal keyspace (tag markers, getOrSet leases). */
import { describe, expect, inject, it } from 'vitest'
import { Cache } from '../ts/index'
import { lockKeyOf } from '../ts/features/single-flight'
import { uniquePrefix } from './contract'

for (const mode of ['memory', 'valkey'] as const) {
  describe(`internal keys (${mode})`, () => {
    const make = () =>
      new Cache({ prefix: uniquePrefix('ks'), ...(mode === 'valkey' ? { url: inject('valkeyUrl') } : {}) })

    it('a user key spelled like a tag marker does not invalidate the tag', async () => {
      const cache = make()
      try {
        await cache.set('a', 1, { tags: ['t'] })
        await cache.set('\u0000tag:t', 'not a marker')
        await cache.set('\u00fftag:t', 'not a marker either')
        expect(await cache.get('a')).toBe(1)
        expect(await cache.get('\u0000tag:t')).toBe('not a marker')
        await cache.invalidateTags(['t'])
        expect(await cache.get('a')).toBeUndefined()
        expect(await cache.get('\u0000tag:t')).toBe('not a marker')
      } finally {
        await cache.close()
      }
    })

    it('deleteMatching never deletes a marker (which would bring invalidated entries back)', async () => {
      const cache = make()
      try {
        await cache.set('a', 1, { tags: ['t'] })
        await cache.invalidateTags(['t'])
        expect(await cache.get('a')).toBeUndefined()
        // Matches the marker's bytes after the prefix, not 'a'.
        expect(await cache.deleteMatching('[^a]*')).toBe(0)
        expect(await cache.deleteMatching('?tag:*')).toBe(0)
        expect(await cache.get('a')).toBeUndefined()
      } finally {
        await cache.close()
      }
    })
  })
}

describe('internal keys (valkey): leases', () => {
  it('a user key spelled like a lease does not hold the lease', async () => {
    const cache = new Cache({ prefix: uniquePrefix('ks'), url: inject('valkeyUrl') })
    try {
      const key = '{h}x'
      expect(lockKeyOf(cache.prefix + key).includes(0xff)).toBe(true)
      await cache.set(`${key}\u0000fc-lock`, 'someone else')
      let loads = 0
      const v = await cache.getOrSet(key, async () => ++loads, { ttl: 60 })
      expect(v).toBe(1)
      expect(loads).toBe(1)
      expect(cache.stats().lockWaits).toBe(0)
    } finally {
      await cache.close()
    }
  })
})
