// ioredis 6 adapter, plain or with enableAutoPipelining.
import { TTL_MS, parseOrNull } from './common.mjs'

export function makeIoredis({ autoPipelining = false } = {}) {
  const name = autoPipelining ? 'ioredis (auto-pipelining)' : 'ioredis'
  let redis
  return {
    name,
    kind: 'peer',
    keyPrefix: `bench:${autoPipelining ? 'ioredis-ap' : 'ioredis'}:`,
    async setup(url) {
      const { Redis } = await import('ioredis')
      redis = new Redis(url, {
        lazyConnect: true,
        enableAutoPipelining: autoPipelining,
        maxRetriesPerRequest: 1,
      })
      await redis.connect()
      await redis.ping()
    },
    set: (key, obj) => redis.set(key, JSON.stringify(obj), 'PX', TTL_MS),
    get: async (key) => parseOrNull(await redis.get(key)),
    getMany: async (keys) => (await redis.mget(keys)).map(parseOrNull),
    async setMany(entries) {
      const p = redis.pipeline()
      for (const e of entries) p.set(e.key, JSON.stringify(e.value), 'PX', TTL_MS)
      const res = await p.exec()
      for (const [err] of res) if (err) throw err
    },
    async close() {
      if (redis) await redis.quit().catch(() => redis.disconnect())
    },
  }
}
