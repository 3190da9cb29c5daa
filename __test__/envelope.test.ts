/** Stored bytes are checked end to end: a flipped bit anywhere, flags included, is a counted miss. */
import { afterAll, describe, expect, inject, it } from 'vitest'
import { Cache } from '../ts/index'
import { valkeyCommand } from '../scripts/valkey.mjs'
import { uniquePrefix } from './contract'

/** XORs one byte of a stored value in place, server side (the value is binary). */
const FLIP = `local v = redis.call('GET', KEYS[1])
local i = tonumber(ARGV[1])
local b = bit.bxor(string.byte(v, i), tonumber(ARGV[2]))
return redis.call('SET', KEYS[1], string.sub(v, 1, i - 1) .. string.char(b) .. string.sub(v, i + 1), 'KEEPTTL')`

describe('envelope checksum (valkey)', () => {
  const url = inject('valkeyUrl')
  const prefix = uniquePrefix('env')
  const cache = new Cache({ url, prefix })
  afterAll(() => cache.close())

  it('a flipped flag bit never turns a value into another one', async () => {
    // Byte 4 (1-based) is the flags byte: bit 0x20 says "8 bytes of fresh time follow".
    for (const mask of [0x01, 0x10, 0x20, 0x40, 0x80]) {
      const key = `n${mask}`
      await cache.set(key, 1234567890)
      expect(await cache.get(key)).toBe(1234567890)
      await valkeyCommand(url, 'EVAL', FLIP, '1', prefix + key, '4', String(mask))
      const errors = cache.stats().errors
      expect(await cache.get(key), `flag bit ${mask}`).toBeUndefined()
      expect(cache.stats().errors).toBe(errors + 1)
    }
  })
})
