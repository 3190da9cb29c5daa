/** The built package as users load it: ESM and CJS entry points, and a process that exits. */
import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { describe, expect, inject, it } from 'vitest'

const root = join(__dirname, '..')
function node(code: string, type: 'mjs' | 'cjs', env: Record<string, string> = {}) {
  const args = type === 'mjs' ? ['--input-type=module', '-e', code] : ['-e', code]
  return spawnSync(process.execPath, args, {
    cwd: root,
    env: { ...process.env, ...env },
    encoding: 'utf8',
    timeout: 20_000,
  })
}

describe('package', () => {
  it('loads from ESM import and CJS require, sharing one implementation', () => {
    const esm = node(
      "import { Cache, CacheError } from 'ferrocache'; import * as t from 'ferrocache/trpc'; import H from 'ferrocache/next';" +
        'console.log(typeof Cache, typeof CacheError, typeof t.cacheMiddleware, typeof H)',
      'mjs',
    )
    expect(esm.stderr).toBe('')
    expect(esm.stdout.trim()).toBe('function function function function')
    const cjs = node(
      "const { CacheError } = require('ferrocache'); const t = require('ferrocache/trpc');" +
        'try { t.cacheMiddleware() } catch (e) { console.log(e instanceof CacheError, e.code) }' +
        "const Next = require('ferrocache/next').default; console.log(typeof new Next({}).get);" +
        "console.log(typeof require('ferrocache/next/use-cache').default.getExpiration)",
      'cjs',
    )
    expect(cjs.stderr).toBe('')
    // One implementation: the error class seen through require is the one ferrocache/trpc throws.
    expect(cjs.stdout.trim().split('\n')).toEqual(['true E_INVALID_OPTION', 'function', 'function'])
  })

  it('ferrocache/next/use-cache loads from ESM; Edge and browser bundles get a clear error', () => {
    const esm = node(
      "import h, { createUseCacheHandler } from 'ferrocache/next/use-cache'; import { createCacheHandler } from 'ferrocache/next';" +
        'console.log(typeof h.get, typeof createUseCacheHandler, typeof createCacheHandler)',
      'mjs',
    )
    expect(esm.stderr).toBe('')
    expect(esm.stdout.trim()).toBe('function function function')
    for (const condition of ['edge-light', 'worker', 'browser']) {
      for (const entry of ['ferrocache', 'ferrocache/next', 'ferrocache/next/use-cache', 'ferrocache/trpc']) {
        const r = spawnSync(
          process.execPath,
          [
            `--conditions=${condition}`,
            '-e',
            `try { require('${entry}') } catch (e) { console.log(e.code, e.message) }`,
          ],
          { cwd: root, encoding: 'utf8', timeout: 20_000 },
        )
        expect(r.stdout).toMatch(/^E_UNSUPPORTED_RUNTIME .*runtime: 'nodejs'/)
      }
    }
  })

  it('a process exits on its own after close(), in both modes', () => {
    for (const url of [inject('valkeyUrl'), '']) {
      const r = node(
        "import { Cache } from 'ferrocache';" +
          'const c = new Cache({ url: process.env.U || undefined, prefix: `exit${process.pid}:` });' +
          "await c.set('k', { d: new Date(5) }); const v = await c.get('k');" +
          "await c.getOrSet('g', async () => 1); await c.close(); console.log(v.d.getTime())",
        'mjs',
        { U: url },
      )
      expect(r.error).toBeUndefined() // no timeout: the process ended by itself
      expect(r.status).toBe(0)
      expect(r.stdout.trim()).toBe('5')
    }
  })

  it('an unreachable Valkey does not keep the process alive or crash it', () => {
    const r = node(
      "import { Cache } from 'ferrocache';" +
        "const c = new Cache({ url: 'redis://127.0.0.1:1' });" +
        "const v = await c.get('k'); const e = await c.set('k', 1).catch((e) => e.code);" +
        'await c.close(); console.log(String(v), e)',
      'mjs',
    )
    expect(r.error).toBeUndefined()
    expect(r.status).toBe(0)
    expect(r.stdout.trim()).toBe('undefined E_CONNECTION')
  })
})
