// valkey-glide 2 adapter (Rust core shipped as a native binary in its npm platform package).
import { TTL_MS, parseOrNull, parseUrl } from './common.mjs'

export function makeGlide() {
  let client
  let g
  return {
    name: 'valkey-glide',
    kind: 'peer',
    keyPrefix: 'bench:glide:',
    async setup(url) {
      g = await import('@valkey/valkey-glide')
      const { host, port, username, password, db, tls } = parseUrl(url)
      client = await g.GlideClient.createClient({
        addresses: [{ host, port }],
        credentials: password ? { username, password } : undefined,
        databaseId: db,
        useTLS: tls,
        // the 250 ms default is too tight for 100 KB values at concurrency 64 on a 2-core box
        requestTimeout: 10_000,
        defaultDecoder: g.Decoder.String,
      })
      await client.ping()
    },
    set: (key, obj) =>
      client.set(key, JSON.stringify(obj), { expiry: { type: g.TimeUnit.Milliseconds, count: TTL_MS } }),
    get: async (key) => parseOrNull(await client.get(key, { decoder: g.Decoder.String })),
    getMany: async (keys) => (await client.mget(keys, { decoder: g.Decoder.String })).map(parseOrNull),
    async setMany(entries) {
      const b = new g.Batch(false) // non-atomic batch = pipeline
      for (const e of entries)
        b.set(e.key, JSON.stringify(e.value), { expiry: { type: g.TimeUnit.Milliseconds, count: TTL_MS } })
      await client.exec(b, true)
    },
    close() {
      if (client) client.close()
      client = undefined
    },
  }
}
