/**
 * The Next.js handlers driven as Next drives them, with Next's real value shapes (every `kind`,
 * Buffers and Maps), against a real Valkey: round trips, tags, soft tags, the one tag space with
 * `Cache.invalidateTags`, and fail-open with Valkey unreachable.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, inject, it } from 'vitest'
import { Cache } from '../ts/index'
import { createCacheHandler, nextHandlerStats, type NextCacheValue } from '../ts/next'
import { createUseCacheHandler, type UseCacheEntry } from '../ts/next-use-cache'

let n = 0
const prefix = (): string => `nexth${process.pid}-${++n}:`

function pageValue(tags: string): NextCacheValue {
  return {
    kind: 'APP_PAGE',
    html: '<html><body>hello ✓</body></html>',
    rscData: Buffer.from([0, 1, 2, 255, 254]),
    headers: { 'x-next-cache-tags': tags, 'content-type': 'text/html' },
    postponed: undefined,
    status: 200,
    segmentData: new Map([
      ['/_tree', Buffer.from('tree')],
      ['/page', Buffer.from([9, 8, 7])],
    ]),
  }
}

const VALUES: NextCacheValue[] = [
  pageValue('_N_T_/layout,_N_T_/page,_N_T_/,posts'),
  {
    kind: 'APP_ROUTE',
    body: Buffer.from('{"ok":true}'),
    status: 200,
    headers: { 'content-type': 'application/json', 'x-next-cache-tags': '_N_T_/api/route' },
  },
  {
    kind: 'PAGES',
    html: '<p>pages</p>',
    pageData: { props: { n: 1, when: '2026-01-01' } },
    headers: undefined,
    status: 200,
  },
  {
    kind: 'FETCH',
    data: { headers: { a: 'b' }, body: Buffer.from('x').toString('base64'), status: 200, url: 'http://x/' },
    revalidate: 60,
    tags: ['fetch-tag'],
  },
  { kind: 'REDIRECT', props: { destination: '/x' } },
  {
    kind: 'IMAGE',
    etag: 'abc',
    buffer: Buffer.from([1, 2, 3]),
    extension: 'webp',
    upstreamEtag: 'up',
    revalidate: 60,
  },
]

describe('ferrocache/next cacheHandler', () => {
  const url = inject('valkeyUrl')

  it('round-trips every kind exactly (Buffers, Maps), with lastModified and cacheControl', async () => {
    const Handler = createCacheHandler({ url, prefix: prefix() })
    const h = new Handler({ revalidatedTags: [] })
    const cacheControl = { revalidate: 30, expire: 300 }
    for (const [i, v] of VALUES.entries()) {
      const before = Date.now()
      await h.set(`/k${i}`, v, { cacheControl, tags: v.kind === 'FETCH' ? ['fetch-tag'] : undefined })
      // A handler made for another request (as Next does) sees the same entry.
      const got = await new Handler({ revalidatedTags: [] }).get(`/k${i}`, { kind: v.kind })
      expect(got?.value).toEqual(v)
      expect(got!.lastModified).toBeGreaterThanOrEqual(before)
      expect(got!.cacheControl).toEqual(cacheControl)
    }
    const page = (await h.get('/k0', { kind: 'APP_PAGE' }))!.value!
    expect(Buffer.isBuffer(page.rscData)).toBe(true)
    expect(page.segmentData).toBeInstanceOf(Map)
    expect(Buffer.isBuffer((page.segmentData as Map<string, Buffer>).get('/page'))).toBe(true)
  })

  it('pages are kept per build (BUILD_ID next to serverDistDir); fetch entries are shared by builds', async () => {
    const root = mkdtempSync(join(tmpdir(), 'fc-next-'))
    const ctxOf = (id: string): { serverDistDir: string } => {
      mkdirSync(join(root, id, 'server'), { recursive: true })
      writeFileSync(join(root, id, 'BUILD_ID'), id)
      return { serverDistDir: join(root, id, 'server') }
    }
    const Handler = createCacheHandler({ url, prefix: prefix() })
    const one = new Handler(ctxOf('build-1'))
    const two = new Handler(ctxOf('build-2'))
    await one.set('/p', VALUES[0], {})
    await one.set('f', VALUES[3], { fetchCache: true, tags: ['fetch-tag'] })
    expect(await new Handler(ctxOf('build-1')).get('/p', { kind: 'APP_PAGE' })).not.toBeNull()
    expect(await two.get('/p', { kind: 'APP_PAGE' })).toBeNull()
    expect(await two.get('f', { kind: 'FETCH', tags: ['fetch-tag'] })).not.toBeNull()
    rmSync(root, { recursive: true, force: true })
  })

  it('a miss is null; set(key, null) deletes', async () => {
    const h = new (createCacheHandler({ url, prefix: prefix() }))()
    expect(await h.get('/none', { kind: 'APP_PAGE' })).toBeNull()
    await h.set('/d', VALUES[2], {})
    await h.set('/d', null, {})
    expect(await h.get('/d', { kind: 'PAGES' })).toBeNull()
  })

  it('revalidateTag (string, array, with and without durations) makes tagged entries stale', async () => {
    const Handler = createCacheHandler({ url, prefix: prefix() })
    const h = new Handler()
    await h.set('/page', pageValue('_N_T_/layout,_N_T_/blog,posts'), {})
    await h.set('fetch1', VALUES[3], { fetchCache: true, tags: ['fetch-tag'] })
    await h.set('/other', pageValue('_N_T_/other'), {})
    await h.revalidateTag('posts')
    expect(await h.get('/page', { kind: 'APP_PAGE' })).toBeNull()
    expect(await h.get('/other', { kind: 'APP_PAGE' })).not.toBeNull()
    await h.revalidateTag(['fetch-tag'], { expire: 0 })
    expect(await h.get('fetch1', { kind: 'FETCH', tags: ['fetch-tag'] })).toBeNull()
    // revalidatePath('/other') is revalidateTag of its implicit tag.
    await h.revalidateTag(['_N_T_/other'], {})
    expect(await h.get('/other', { kind: 'APP_PAGE' })).toBeNull()
    // Written again after the invalidation: fresh.
    await h.set('/page', pageValue('_N_T_/layout,_N_T_/blog,posts'), {})
    expect(await h.get('/page', { kind: 'APP_PAGE' })).not.toBeNull()
  })

  it('soft tags passed on get: a fetch entry is stale once a soft tag is revalidated after it', async () => {
    const h = new (createCacheHandler({ url, prefix: prefix() }))()
    await h.set('f', VALUES[3], { fetchCache: true, tags: ['fetch-tag'] })
    const ctx = { kind: 'FETCH', tags: ['fetch-tag'], softTags: ['_N_T_/layout', '_N_T_/blog'] }
    expect(await h.get('f', ctx)).not.toBeNull()
    await h.revalidateTag('_N_T_/blog')
    expect(await h.get('f', ctx)).toBeNull()
    expect(await h.get('f', { kind: 'FETCH', tags: ['fetch-tag'] })).not.toBeNull()
  })

  it('one tag space: Cache.invalidateTags makes Next entries stale, revalidateTag drops Cache entries', async () => {
    const p = prefix()
    const cache = new Cache({ url, prefix: p })
    const Handler = createCacheHandler({ cache })
    const h = new Handler()
    await h.set('/post/7', pageValue('_N_T_/post/7,post:7'), {})
    await cache.set('trpc:post.get:7', { title: 'x' }, { tags: ['post:7'] })
    // From plain Node, another process's Cache on the same prefix:
    const other = new Cache({ url, prefix: p })
    await other.invalidateTags(['post:7'])
    expect(await h.get('/post/7', { kind: 'APP_PAGE' })).toBeNull()
    expect(await cache.get('trpc:post.get:7')).toBeUndefined()
    await cache.set('trpc:post.get:7', { title: 'y' }, { tags: ['post:7'] })
    await h.revalidateTag('post:7')
    expect(await other.get('trpc:post.get:7')).toBeUndefined()
    await other.close()
    await cache.close()
  })

  it('more tags than markers: the overflow is checked by time', async () => {
    const h = new (createCacheHandler({ url, prefix: prefix() }))()
    const tags = Array.from({ length: 100 }, (_, i) => `t${i}`)
    await h.set('/many', pageValue(tags.join(',')), {})
    expect(await h.get('/many', { kind: 'APP_PAGE' })).not.toBeNull()
    await h.revalidateTag('t99')
    expect(await h.get('/many', { kind: 'APP_PAGE' })).toBeNull()
  })

  it('Valkey unreachable: get is a miss, set and revalidateTag resolve, drops are counted', async () => {
    const h = new (createCacheHandler({
      url: 'redis://127.0.0.1:1',
      prefix: prefix(),
      commandTimeoutMs: 200,
    }))()
    const before = nextHandlerStats()
    expect(await h.get('/x', { kind: 'APP_PAGE' })).toBeNull()
    await expect(h.set('/x', VALUES[0], {})).resolves.toBeUndefined()
    await expect(h.revalidateTag('posts')).resolves.toBeUndefined()
    const after = nextHandlerStats()
    expect(after.droppedWrites).toBe(before.droppedWrites + 1)
    expect(after.droppedInvalidations).toBe(before.droppedInvalidations + 1)
  })

  it('reuses one engine per configuration (Next makes a handler per request; HMR re-runs modules)', () => {
    const opts = { url, prefix: 'same-config:' }
    const g = globalThis as unknown as Record<symbol, { caches: Map<string, Cache> } | undefined>
    const A = createCacheHandler(opts)
    const B = createCacheHandler({ ...opts })
    void new A().get('k')
    void new B().get('k')
    const reg = g[Symbol.for('ferrocache.next.registry')]!
    const matching = [...reg.caches.keys()].filter((k) => k.includes('same-config:'))
    expect(matching).toHaveLength(1)
  })
})

function entry(body: string, tags: string[], over: Partial<UseCacheEntry> = {}): UseCacheEntry {
  const bytes = new TextEncoder().encode(body)
  return {
    value: new ReadableStream({
      start(c) {
        c.enqueue(bytes.slice(0, 2))
        c.enqueue(bytes.slice(2))
        c.close()
      },
    }),
    tags,
    stale: 30,
    timestamp: Date.now(),
    expire: 600,
    revalidate: 60,
    ...over,
  }
}

async function text(e: UseCacheEntry | undefined): Promise<string | undefined> {
  return e === undefined ? undefined : new Response(e.value).text()
}

describe("ferrocache/next/use-cache ('use cache' handler)", () => {
  const url = inject('valkeyUrl')

  it('buffers the stream on set and returns a new stream on every get', async () => {
    const h = createUseCacheHandler({ url, prefix: prefix() })
    const e = entry('chunked ✓ value', ['a'])
    const setting = h.set('k', Promise.resolve(e))
    // A get during the set waits for it instead of missing.
    const during = h.get('k', [])
    await setting
    expect(await text(await during)).toBe('chunked ✓ value')
    const g1 = await h.get('k', [])
    const g2 = await h.get('k', [])
    expect(g1!.value).not.toBe(g2!.value)
    expect(await text(g1)).toBe('chunked ✓ value')
    expect(await text(g2)).toBe('chunked ✓ value')
    expect(g1).toMatchObject({ tags: ['a'], stale: 30, expire: 600, revalidate: 60, timestamp: e.timestamp })
  })

  it('updateTags (16), expireTags (15) and soft tags; getExpiration in both forms', async () => {
    const h = createUseCacheHandler({ url, prefix: prefix() })
    await h.set('a', Promise.resolve(entry('A', ['x'])))
    await h.set('b', Promise.resolve(entry('B', ['y'])))
    await h.set('c', Promise.resolve(entry('C', [])))
    expect(await h.getExpiration(['x', 'y'])).toBe(0)
    await h.updateTags(['x'], { expire: 0 })
    expect(await h.get('a', [])).toBeUndefined()
    await h.expireTags('y')
    expect(await h.get('b', [])).toBeUndefined()
    expect(await h.getExpiration('x', 'y')).toBeGreaterThan(0)
    expect(await h.getExpiration(['x'])).toBeGreaterThan(0)
    expect(await text(await h.get('c', ['_N_T_/p']))).toBe('C')
    await h.updateTags(['_N_T_/p'])
    expect(await h.get('c', ['_N_T_/p'])).toBeUndefined()
    // Re-cached after revalidation.
    await h.set('a', Promise.resolve(entry('A2', ['x'])))
    expect(await text(await h.get('a', []))).toBe('A2')
  })

  it('Cache.invalidateTags reaches use-cache entries; dynamic and expired entries are not kept', async () => {
    const p = prefix()
    const cache = new Cache({ url, prefix: p })
    const h = createUseCacheHandler({ cache })
    await h.set('t', Promise.resolve(entry('T', ['post:1'])))
    await cache.invalidateTags(['post:1'])
    expect(await h.get('t', [])).toBeUndefined()
    await h.set('dyn', Promise.resolve(entry('D', [], { expire: 0 })))
    expect(await h.get('dyn', [])).toBeUndefined()
    await h.set('old', Promise.resolve(entry('O', [], { timestamp: Date.now() - 10_000, expire: 5 })))
    expect(await h.get('old', [])).toBeUndefined()
    await cache.close()
  })

  it('Valkey unreachable: misses, writes dropped, never throws', async () => {
    const h = createUseCacheHandler({ url: 'redis://127.0.0.1:1', prefix: prefix(), commandTimeoutMs: 200 })
    await expect(h.set('k', Promise.resolve(entry('v', ['a'])))).resolves.toBeUndefined()
    expect(await h.get('k', ['_N_T_/'])).toBeUndefined()
    expect(await h.getExpiration(['a'])).toBe(0)
    await expect(h.updateTags(['a'])).resolves.toBeUndefined()
  })
})
