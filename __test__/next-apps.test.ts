/**
 * `examples/next-app` built with `next build` and served by `next start` — Next 15 and Next 16 —
 * as two instances on two ports sharing one real Valkey: the shared cache, revalidateTag /
 * revalidatePath on one instance seen on the other, `Cache.invalidateTags` from plain Node, tRPC in
 * the same tag space, 'use cache' re-cached after revalidation, and Valkey killed (pages still
 * render) and back (sharing resumes). One real-browser test clicks the Server Action button.
 */
import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { freePort, startValkey, type ValkeyServer } from '../scripts/valkey.mjs'
import { Cache } from '../ts/index'
import {
  buildApp,
  field,
  installFixture,
  page,
  startApp,
  startUpstream,
  type AppEnv,
  type RunningApp,
} from './next/apps'

const CHROMIUM = '/usr/bin/chromium'

/** The part of playwright-core's API used here (it is installed in the Next 16 fixture only). */
interface Playwright {
  chromium: {
    launchPersistentContext(
      userDataDir: string,
      o: { executablePath: string; args: string[] },
    ): Promise<{
      newPage(): Promise<{
        goto(url: string): Promise<unknown>
        textContent(selector: string): Promise<string | null>
        click(selector: string): Promise<void>
        waitForResponse(f: (r: { request(): { method(): string } }) => boolean): Promise<{ status(): number }>
      }>
      close(): Promise<void>
    }>
  }
}
const BUILD_TIMEOUT = 900_000

/** Debian's chromium: installed by .ci/run; installed here when missing and we may (root). */
function ensureChromium(): void {
  if (existsSync(CHROMIUM)) return
  const root = typeof process.getuid === 'function' && process.getuid() === 0
  if (!root) {
    throw new Error(
      `the browser test needs Debian's chromium at ${CHROMIUM}: run \`apt-get install chromium\``,
    )
  }
  for (const args of [
    ['update', '-q'],
    ['install', '-y', '-q', '--no-install-recommends', 'chromium'],
  ]) {
    const r = spawnSync('apt-get', args, {
      encoding: 'utf8',
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    })
    if (r.status !== 0) throw new Error(`apt-get ${args.join(' ')} failed: ${r.stderr}`)
  }
}

async function until(what: string, check: () => Promise<boolean>, tries = 100): Promise<void> {
  for (let i = 0; i < tries; i++) {
    if (await check()) return
    await new Promise((r) => setTimeout(r, 200))
  }
  throw new Error(`gave up waiting: ${what}`)
}

/**
 * Reads until the value differs from `old` (bounded): Next 16 runs a route handler's revalidations
 * after sending its response (`waitUntil`), so the change lands a moment after the call returns.
 */
async function changed(old: string, read: () => Promise<string>): Promise<string> {
  let now = await read()
  for (let i = 0; i < 50 && now === old; i++) {
    await new Promise((r) => setTimeout(r, 100))
    now = await read()
  }
  return now
}

describe.each([
  { version: '15', fixture: 'next15' },
  { version: '16', fixture: 'next16' },
])('examples/next-app on Next $version, two instances, one Valkey', ({ version, fixture }) => {
  let valkey: ValkeyServer
  let upstream: Awaited<ReturnType<typeof startUpstream>>
  let env: AppEnv
  let a: RunningApp
  let b: RunningApp
  let dir: string

  beforeAll(async () => {
    dir = await installFixture(fixture)
    valkey = await startValkey()
    upstream = await startUpstream()
    env = { FERROCACHE_URL: valkey.url, FERROCACHE_PREFIX: `next${version}:`, UPSTREAM_URL: upstream.url }
    const app = await buildApp(dir, env)
    ;[a, b] = await Promise.all([startApp(app, await freePort(), env), startApp(app, await freePort(), env)])
  }, BUILD_TIMEOUT)

  afterAll(async () => {
    await Promise.allSettled([a?.stop(), b?.stop()])
    upstream?.server.close()
    await valkey?.stop()
  }, 30_000)

  const render = async (app: RunningApp, path = '/isr'): Promise<string> => {
    const r = await page(app.url, path)
    expect(r.status).toBe(200)
    return path === '/uc' ? field(r.html, 'uc') : `${field(r.html, 'render')} ${field(r.html, 'posts')}`
  }
  const trpcPosts = async (app: RunningApp): Promise<string> => {
    const r = await fetch(`${app.url}/api/trpc/posts`)
    expect(r.status).toBe(200)
    return JSON.stringify(((await r.json()) as { result: { data: unknown } }).result.data)
  }
  const mutate = (app: RunningApp): Promise<Response> =>
    fetch(`${app.url}/api/trpc/touchPosts`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{}',
    })
  const revalidate = async (app: RunningApp, query: string): Promise<void> => {
    const r = await fetch(`${app.url}/api/revalidate?${query}`, { method: 'POST' })
    expect(r.status).toBe(200)
  }

  it('a page, a route handler and a use-cache entry rendered once are served by both instances', async () => {
    const first = await render(a)
    expect(await render(b)).toBe(first)
    expect(await render(a)).toBe(first)
    const route = await (await fetch(`${a.url}/api/page-info`)).text()
    expect(await (await fetch(`${b.url}/api/page-info`)).text()).toBe(route)
    const uc = await render(a, '/uc')
    expect(await render(b, '/uc')).toBe(uc)
  })

  it('revalidateTag on A: B renders fresh (new fetch data too), then serves the new entry', async () => {
    const before = await render(b)
    const ucBefore = await render(b, '/uc')
    upstream.bump()
    await revalidate(a, 'tag=posts')
    const after = await changed(before, () => render(b))
    expect(after).not.toBe(before)
    expect(after.split(' ')[1]).not.toBe(before.split(' ')[1]) // the tagged fetch was refetched
    expect(await render(a)).toBe(after)
    // 'use cache' entry tagged 'posts': re-rendered once, then cached again for both.
    const ucAfter = await changed(ucBefore, () => render(a, '/uc'))
    expect(ucAfter).not.toBe(ucBefore)
    expect(await render(b, '/uc')).toBe(ucAfter)
    expect(await render(a, '/uc')).toBe(ucAfter)
  })

  it('revalidatePath on B: A renders fresh', async () => {
    const before = await render(a)
    await revalidate(b, 'path=/isr')
    const after = await changed(before, () => render(a))
    expect(after.split(' ')[0]).not.toBe(before.split(' ')[0])
    expect(await render(b)).toBe(after)
  })

  it('one tag space: Cache.invalidateTags from plain Node, tRPC mutation → Next, Next → tRPC', async () => {
    const cache = new Cache({ url: env.FERROCACHE_URL, prefix: env.FERROCACHE_PREFIX })
    try {
      const page0 = await render(a)
      const uc0 = await render(b, '/uc')
      await cache.invalidateTags(['posts'])
      const page1 = await render(b)
      expect(page1).not.toBe(page0)
      expect(await render(a)).toBe(page1)
      expect(await render(a, '/uc')).not.toBe(uc0)

      // tRPC procedure cached with tags ['posts'], shared by both instances.
      const t0 = await trpcPosts(a)
      expect(await trpcPosts(b)).toBe(t0)
      // Next → tRPC: revalidateTag('posts') in Next drops the tRPC entry.
      await revalidate(b, 'tag=posts')
      const t1 = await changed(t0, () => trpcPosts(a))
      expect(t1).not.toBe(t0)
      // tRPC → Next: the mutation's invalidateMiddleware makes the Next page stale on both.
      const page2 = await render(a)
      const m = await mutate(b)
      expect(m.status).toBe(200)
      expect(await render(a)).not.toBe(page2)
      expect(await trpcPosts(b)).not.toBe(t1)
    } finally {
      await cache.close()
    }
  })

  it('Valkey killed: pages still render on both; sharing resumes when it is back', async () => {
    valkey.kill()
    for (const app of [a, b]) {
      expect((await page(app.url, '/isr')).status).toBe(200)
      expect((await page(app.url, '/uc')).status).toBe(200)
      expect((await page(app.url, '/')).status).toBe(200)
    }
    const t = await mutate(a)
    expect(t.status).toBe(200) // the mutation's result reaches the client
    await valkey.restart()
    // The restarted Valkey is empty: once both instances reconnect, one render is shared again.
    await until('both instances share one render again', async () => {
      const x = await render(a)
      return (await render(b)) === x && (await render(a)) === x
    })
  })

  // One real-browser test (on the newest Next): registered for Next 16 only, never skipped.
  if (version === '16')
    it('in a real browser: the Server Action button on A, new content on B', async () => {
      ensureChromium()
      const { chromium } = (await import(
        join(dir, 'node_modules', 'playwright-core', 'index.js')
      )) as Playwright
      const profile = mkdtempSync(join(tmpdir(), 'fc-chromium-'))
      // A fresh profile directory (Playwright passes it as --user-data-dir).
      const browser = await chromium.launchPersistentContext(profile, {
        executablePath: CHROMIUM,
        args: [
          '--headless',
          '--no-sandbox',
          '--disable-gpu',
          '--disable-quic',
          '--no-first-run',
          '--disable-background-networking',
          '--disable-component-update',
          '--disable-sync',
        ],
      })
      try {
        const before = await render(b)
        upstream.bump()
        const tab = await browser.newPage()
        await tab.goto(`${a.url}/isr`)
        expect(await tab.textContent('#posts')).toBe(before.split(' ')[1])
        // The click posts the Server Action to A; its response ends the action.
        const [response] = await Promise.all([
          tab.waitForResponse((r) => r.request().method() === 'POST'),
          tab.click('#refresh'),
        ])
        expect(response.status()).toBe(200)
        const after = await changed(before, () => render(b))
        expect(after.split(' ')[0]).not.toBe(before.split(' ')[0])
        expect(after.split(' ')[1]).toBe(`posts:${upstream.current()}`)
      } finally {
        await browser.close()
        rmSync(profile, { recursive: true, force: true })
      }
    })
})
