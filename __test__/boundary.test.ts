/** The codes that cross the native boundary come from Rust; the TypeScript side knows them all. */
import { describe, expect, it } from 'vitest'
import * as native from '../ts/boundary/binding'
import { isCacheErrorCode } from '../ts/core/errors'

describe('boundary codes', () => {
  it('every native error code is a CacheErrorCode', () => {
    expect(native.NATIVE_CODES.length).toBeGreaterThan(0)
    for (const code of native.NATIVE_CODES) expect(isCacheErrorCode(code), code).toBe(true)
  })

  it('op, status and reply codes are distinct within their group', () => {
    const groups = [
      [native.OP_GET, native.OP_SET, native.OP_DELETE, native.OP_EXISTS, native.OP_COMMAND],
      [native.STATUS_HIT, native.STATUS_ERROR, native.STATUS_STALE],
      [native.REPLY_INT, native.REPLY_BULK, native.REPLY_STATUS],
      [native.BUS_MESSAGE, native.BUS_SUBSCRIBED, native.BUS_LOST],
    ]
    for (const g of groups) {
      for (const v of g) expect(Number.isInteger(v)).toBe(true)
      expect(new Set(g).size).toBe(g.length)
    }
  })
})
