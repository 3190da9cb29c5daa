/** Down/up events and log lines against a real Valkey that is killed and restarted. */
import { afterAll, describe, expect, inject, it } from 'vitest'
import { startValkey, type ValkeyServer } from '../scripts/valkey.mjs'
import { Cache, type CacheEvent } from '../ts/index'
import { uniquePrefix } from './contract'

const open: { close(): unknown }[] = []
afterAll(async () => {
  await Promise.all(open.map((c) => c.close()))
})

async function until(what: string, fn: () => boolean | Promise<boolean>, tries = 400): Promise<void> {
  for (let i = 0; i < tries; i++) {
    if (await fn()) return
    await new Promise((r) => setTimeout(r, 25))
  }
  throw new Error(`gave up waiting for ${what}`)
}

describe('a voice when Valkey goes away', () => {
  it('logs one line when Valkey becomes unreachable and one when it is back, never the password', async () => {
    const password = 's3cret-pw-' + Math.random().toString(36).slice(2)
    const server: ValkeyServer = await startValkey({ password })
    const lines: string[] = []
    const events: CacheEvent[] = []
    const cache = new Cache({
      url: server.url,
      prefix: uniquePrefix('events'),
      name: 'pages',
      commandTimeoutMs: 300,
      connectTimeoutMs: 300,
      logger: { warn: (m) => lines.push(`warn ${m}`), info: (m) => lines.push(`info ${m}`) },
    })
    cache.on('down', (e) => events.push(e)).on('up', (e) => events.push(e))
    try {
      await cache.set('a', 1)
      expect(await cache.get('a')).toBe(1)
      expect(lines).toEqual([])

      server.kill()
      await until('the down line', async () => {
        await cache.get('a')
        return lines.length > 0
      })
      for (let i = 0; i < 20; i++) expect(await cache.get('a')).toBeUndefined() // runs uncached, silently
      await Promise.all(Array.from({ length: 50 }, (_, i) => cache.get(`k${i}`)))
      expect(lines).toHaveLength(1)
      expect(lines[0]).toMatch(/^warn ferrocache \[pages\]: Valkey at 127\.0\.0\.1:\d+ is unreachable/)

      await server.restart()
      await until('the up line', async () => {
        await cache.get('a')
        return lines.length > 1
      })
      for (let i = 0; i < 20; i++) await cache.get('a')
      expect(lines).toHaveLength(2)
      expect(lines[1]).toMatch(/^info ferrocache \[pages\]: Valkey at 127\.0\.0\.1:\d+ is reachable again/)
      expect(lines.join('\n')).not.toContain(password)
      expect(events.map((e) => e.type)).toEqual(['down', 'up'])
    } finally {
      await cache.close()
      await server.stop()
    }
  })

  it('logger: false keeps quiet; events still arrive (onEvent)', async () => {
    const server = await startValkey()
    const seen: string[] = []
    const warn = console.warn
    const printed: string[] = []
    console.warn = (...a: unknown[]) => printed.push(a.join(' '))
    const cache = new Cache({
      url: server.url,
      logger: false,
      commandTimeoutMs: 300,
      connectTimeoutMs: 300,
      onEvent: (e) => seen.push(e.type),
    })
    try {
      await cache.set('a', 1)
      server.kill()
      await until('down', async () => {
        await cache.get('a')
        return seen.includes('down')
      })
      expect(seen).toContain('error')
      expect(printed.filter((l) => l.includes('ferrocache'))).toEqual([])
    } finally {
      console.warn = warn
      await cache.close()
      await server.stop()
    }
  })

  it("'stale' fires when getOrSet serves a value within grace", async () => {
    const cache = new Cache({ url: inject('valkeyUrl'), prefix: uniquePrefix('stale'), logger: false })
    open.push(cache)
    const stale: string[] = []
    cache.on('stale', (e) => stale.push(e.key))
    await cache.getOrSet('s', () => 1, { ttl: 0.05, grace: 60 })
    await new Promise((r) => setTimeout(r, 120))
    let release!: () => void
    const slow = new Promise<number>((r) => (release = () => r(2)))
    expect(await cache.getOrSet('s', () => slow, { ttl: 60, grace: 60 })).toBe(1)
    release()
    await until('stale event', () => stale.length > 0)
    expect(stale).toEqual(['s'])
  })

  it('on() refuses unknown event types', () => {
    const cache = new Cache({ logger: false })
    open.push(cache)
    expect(() => cache.on('nope' as 'up', () => {})).toThrow(/down/)
  })
})

describe('log rate limit (a flapping link)', () => {
  it('writes at most two lines per interval, then one catch-up line with the current state', async () => {
    const { Telemetry } = await import('../ts/features/telemetry')
    const lines: string[] = []
    const t = new Telemetry({ warn: (m) => lines.push(m) }, 'h:1', '', 200)
    for (let i = 0; i < 5; i++) {
      t.pinged(false, 'E_CONNECTION')
      t.pinged(true)
    }
    t.pinged(false, 'E_CONNECTION') // ends down
    expect(lines).toHaveLength(2)
    await until('catch-up line', () => lines.length === 3)
    expect(lines[2]).toMatch(/unreachable.*\(9 more transitions/)
    t.close()
  })
})
