/** inspect() over rediss:// with a private CA (the cache's own TLS settings). */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startTlsValkey, type TlsValkey } from '../scripts/valkey.mjs'
import { Cache } from '../ts/index'

describe('inspect() over TLS', () => {
  let t: TlsValkey
  beforeAll(async () => {
    t = await startTlsValkey()
  })
  afterAll(() => t?.stop())

  it('connects with the tls.ca option', async () => {
    const cache = new Cache({ url: t.url, tls: { ca: t.caPem }, prefix: 'tls:', logger: false })
    try {
      await cache.setMany(Array.from({ length: 10 }, (_, i) => ({ key: `k${i}`, value: i })))
      const r = await cache.inspect()
      expect(r.servers).toHaveLength(1)
      expect(r.keys).toMatchObject({ exact: true, estimated: 10, sampled: 10 })
    } finally {
      await cache.close()
    }
  })

  it('an untrusted certificate is a connection error, not a silent plain-text fallback', async () => {
    const cache = new Cache({ url: t.url, prefix: 'tls:', logger: false })
    try {
      await expect(cache.inspect()).rejects.toMatchObject({ code: 'E_CONNECTION' })
    } finally {
      await cache.close()
    }
  })
})
