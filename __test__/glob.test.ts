/**
 * One glob matcher everywhere, with Valkey's own rules: the shared vectors are checked against a
 * live Valkey (KEYS) and against the engine's matcher; memory-only mode and the L1 tier delete
 * exactly what Valkey deletes (bytes, not UTF-16 units; odd patterns are patterns, not errors).
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Cache } from '../ts/index'
import { globMatch } from '../ts/boundary/binding'
import { startValkey, valkeyCommand, type ValkeyServer } from '../scripts/valkey.mjs'
import { uniquePrefix } from './contract'

const vectors = JSON.parse(readFileSync(join(__dirname, 'fixtures', 'glob-vectors.json'), 'utf8')) as {
  texts: string[]
  cases: [string, string[]][]
}

describe('glob matching', () => {
  let server: ValkeyServer
  beforeAll(async () => {
    server = await startValkey()
  })
  afterAll(async () => {
    await server?.stop()
  })

  it('a live Valkey matches the shared vectors', async () => {
    for (const t of vectors.texts) await valkeyCommand(server.url, 'SET', t, '1')
    for (const [pattern, want] of vectors.cases) {
      const got = (await valkeyCommand<string[]>(server.url, 'KEYS', pattern)) as string[]
      expect(
        vectors.texts.filter((t) => got.includes(t)),
        pattern,
      ).toEqual(want)
    }
  })

  it('the engine matcher matches the shared vectors', () => {
    for (const [pattern, want] of vectors.cases) {
      expect(
        globMatch(pattern, vectors.texts).map((i) => vectors.texts[i]),
        pattern,
      ).toEqual(want)
    }
  })

  for (const mode of ['memory', 'valkey'] as const) {
    it(`deleteMatching drops from L1 exactly what it deletes from the store (${mode})`, async () => {
      const cache = new Cache({
        prefix: uniquePrefix('glob'),
        ...(mode === 'valkey' ? { url: server.url } : {}),
        l1: { maxEntries: 100 },
      })
      try {
        const keys = ['café', 'cafe', 'a]', 'ab', 'a-', 'm', 'Z']
        // Reads until the L1 tier serves every key (with Valkey it is on once the bus is subscribed).
        const warm = async (live: string[]) => {
          for (let round = 0; round < 500; round++) {
            const before = cache.stats().l1Hits
            for (const k of live) expect(await cache.get(k)).toBe(k)
            if (cache.stats().l1Hits - before === live.length) return
            await new Promise((r) => setTimeout(r, 5))
          }
          throw new Error('L1 never served the keys')
        }
        for (const k of keys) await cache.set(k, k)
        await warm(keys)
        expect(await cache.deleteMatching('caf??')).toBe(1)
        expect(await cache.get('café')).toBeUndefined()
        expect(await cache.get('cafe')).toBe('cafe')
        await warm(keys.filter((k) => k !== 'café'))
        expect(await cache.deleteMatching('a[b-]')).toBe(2) // 'ab' and 'a]'
        expect(await cache.get('a]')).toBeUndefined()
        expect(await cache.get('ab')).toBeUndefined()
        expect(await cache.get('a-')).toBe('a-')
        // An inverted range is a range, not an error: Valkey deletes, and so does L1.
        expect(await cache.deleteMatching('[z-a]')).toBe(1) // 'm' (not 'Z')
        expect(await cache.get('m')).toBeUndefined()
        expect(await cache.get('Z')).toBe('Z')
        await warm(['cafe', 'a-', 'Z'])
        await expect(cache.deleteMatching('[z-a]*')).resolves.toBe(2) // 'cafe', 'a-'; not 'Z'
        for (const k of keys) expect(await cache.get(k), k).toBe(k === 'Z' ? 'Z' : undefined)
      } finally {
        await cache.close()
      }
    })
  }
})
