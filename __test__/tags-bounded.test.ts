/** Tag bookkeeping stays bounded: nothing is left behind per key once keys expire. */
import { describe, expect, it } from 'vitest'
import { Cache } from '../ts/index'
import { startValkey, valkeyCommand } from '../scripts/valkey.mjs'

describe('tags stay bounded', () => {
  it('50k tagged keys with a 1 s ttl expire, tags are invalidated, DBSIZE returns to the baseline', async () => {
    // Active expiry is paused while writing, so the count below does not race the 1 s ttl on a
    // loaded machine (expired keys stay in the keyspace until touched or the cycle resumes).
    const server = await startValkey({ args: ['--enable-debug-command', 'yes'] })
    const cache = new Cache({ url: server.url, prefix: 'bounded:' })
    try {
      const baseline = Number(await valkeyCommand(server.url, 'DBSIZE'))
      await valkeyCommand(server.url, 'DEBUG', 'SET-ACTIVE-EXPIRE', '0')
      const tags = Array.from({ length: 100 }, (_, i) => `tag${i}`)
      for (let i = 0; i < 50_000; i += 2000) {
        await cache.setMany(
          Array.from({ length: 2000 }, (_, j) => ({
            key: `k${i + j}`,
            value: { n: i + j },
            ttl: 1,
            tags: [tags[(i + j) % 100], tags[(i + j + 1) % 100]],
          })),
        )
      }
      expect(Number(await valkeyCommand(server.url, 'DBSIZE'))).toBeGreaterThanOrEqual(baseline + 50_000)
      await new Promise((r) => setTimeout(r, 1300))
      await valkeyCommand(server.url, 'DEBUG', 'SET-ACTIVE-EXPIRE', '1')
      await cache.invalidateTags(tags)
      // Expired keys go lazily or by the active expiry cycle; ask Valkey to count what is live.
      let size = Infinity
      for (let i = 0; i < 50 && size > baseline + tags.length; i++) {
        await valkeyCommand(server.url, 'SCAN', '0', 'COUNT', '100000') // touches keys: expires them
        size = Number(await valkeyCommand(server.url, 'DBSIZE'))
        if (size > baseline + tags.length) await new Promise((r) => setTimeout(r, 100))
      }
      // What remains: one marker per invalidated tag (and they expire on their own), nothing per key.
      expect(size).toBeLessThanOrEqual(baseline + tags.length)
    } finally {
      await cache.close()
      await server.stop()
    }
  }, 60_000)
})
