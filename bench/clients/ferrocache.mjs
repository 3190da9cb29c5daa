// ferrocache adapter: the package under test, with its default codec. Imported straight from the
// repository's build output (npm run build), so the bench package does not depend on itself.
import { TTL_SECONDS } from './common.mjs'

export function makeFerrocache() {
  let cache
  return {
    name: 'ferrocache',
    kind: 'subject',
    // the Cache itself adds the 'bench:' prefix on the server
    keyPrefix: 'ferrocache:',
    async setup(url) {
      let mod
      try {
        mod = await import('../../dist/index.mjs')
      } catch (e) {
        if (e?.code !== 'ERR_MODULE_NOT_FOUND') throw e
        const missing = e.message.match(/(dist\/[^'"]+|\.node)['"]/)?.[1] ?? 'its entry point'
        throw new Error(`ferrocache is not built (${missing} missing; run npm run build)`)
      }
      const { Cache } = mod
      cache = new Cache({ url, prefix: 'bench:' })
    },
    set: (key, obj) => cache.set(key, obj, { ttl: TTL_SECONDS }),
    get: (key) => cache.get(key),
    getOrSet: (key, loader, options) => cache.getOrSet(key, loader, options),
    getMany: (keys) => cache.getMany(keys),
    setMany: (entries) =>
      cache.setMany(entries.map((e) => ({ key: e.key, value: e.value, ttl: TTL_SECONDS }))),
    async close() {
      if (cache) await cache.close()
      cache = undefined
    },
  }
}
