// node-redis 5 adapter (createClient, RESP2 = the default protocol).
import { TTL_MS, parseOrNull } from './common.mjs'

export function makeNodeRedis() {
  let client
  return {
    name: 'node-redis',
    kind: 'peer',
    keyPrefix: 'bench:node-redis:',
    async setup(url) {
      const { createClient } = await import('redis')
      client = createClient({ url })
      client.on('error', () => {}) // surfaced through the rejected commands instead
      await client.connect()
      await client.ping()
    },
    set: (key, obj) => client.set(key, JSON.stringify(obj), { expiration: { type: 'PX', value: TTL_MS } }),
    get: async (key) => parseOrNull(await client.get(key)),
    getMany: async (keys) => (await client.mGet(keys)).map(parseOrNull),
    async setMany(entries) {
      const m = client.multi()
      for (const e of entries)
        m.set(e.key, JSON.stringify(e.value), { expiration: { type: 'PX', value: TTL_MS } })
      await m.execAsPipeline()
    },
    async close() {
      if (client?.isOpen) await client.close().catch(() => client.destroy())
    },
  }
}
