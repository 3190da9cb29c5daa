/**
 * The prebuilt Linux binaries in npm/*: right ELF machine, glibc ≤ 2.17 for gnu (what @node-rs
 * packages support), musl's libc for musl; the x64 musl one loads under musl's own loader; and a
 * missing platform package gives an error that names it.
 * npm test cross-builds x64 musl (debug); `npm run build:all` (CI) builds all four.
 */
import { execFileSync, spawnSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
// @ts-expect-error: a plain .mjs script without types
import { LINUX_TARGETS, artifactPath } from '../scripts/build-all.mjs'
// @ts-expect-error: a plain .mjs script without types
import { muslLoad, undefinedSymbols } from '../scripts/musl-load.mjs'
import { missingBinaryMessage, platformPackage } from '../ts/boundary/binding'

const root = path.join(__dirname, '..')
const all = !!process.env.CI || process.env.FERROCACHE_ALL_TARGETS === '1'
const required = (t: string) => all || t === 'x86_64-unknown-linux-musl'
// The targets to check: the required ones, and any other that has been built.
const targets = Object.keys(LINUX_TARGETS as Record<string, unknown>).filter(
  (t) => required(t) || fs.existsSync(artifactPath(t)),
)

function machine(file: string): string {
  const out = execFileSync('readelf', ['-h', file], { encoding: 'utf8' })
  return /Machine:\s+(.*)/.exec(out)![1].trim()
}
/** Highest GLIBC_x.y symbol version the file needs, as [x, y]; undefined when none. */
function maxGlibc(file: string): [number, number] | undefined {
  const out = execFileSync('readelf', ['--dyn-syms', '-W', file], { encoding: 'utf8' })
  const versions = [...out.matchAll(/@GLIBC_(\d+)\.(\d+)/g)].map(
    (m) => [Number(m[1]), Number(m[2])] as [number, number],
  )
  return versions.sort((a, b) => a[0] - b[0] || a[1] - b[1]).at(-1)
}
function needed(file: string): string[] {
  const out = execFileSync('readelf', ['-d', file], { encoding: 'utf8' })
  return [...out.matchAll(/\(NEEDED\)\s+Shared library: \[(.*)\]/g)].map((m) => m[1])
}

describe.each(targets)('prebuilt %s', (target) => {
  const file: string = artifactPath(target)
  it('is built, with the right ELF machine and libc', () => {
    expect(fs.existsSync(file), `${file}: run npm run build:all`).toBe(true)
    expect(machine(file)).toBe(target.startsWith('x86_64') ? 'Advanced Micro Devices X86-64' : 'AArch64')
    const glibc = maxGlibc(file)
    if (target.endsWith('-gnu')) {
      expect(glibc, 'links against glibc').toBeDefined()
      const [major, minor] = glibc!
      expect(major * 1000 + minor, `needs GLIBC_${major}.${minor}`).toBeLessThanOrEqual(2017)
    } else {
      expect(glibc).toBeUndefined()
      expect(needed(file)).toEqual(['libc.so'])
    }
  })
})

it('the glibc check can fail: the dev build (host toolchain) needs a newer glibc than 2.17', () => {
  const [major, minor] = maxGlibc(path.join(root, 'ferrocache.linux-x64-gnu.node'))!
  expect(major * 1000 + minor).toBeGreaterThan(2017)
})

it('every libuv function the addon calls is one this Node exports to addons', () => {
  // The musl host below stubs uv_* as Node would provide them; this is what makes that honest.
  const uv = (undefinedSymbols(path.join(root, 'ferrocache.linux-x64-gnu.node')) as string[]).filter((s) =>
    s.startsWith('uv_'),
  )
  expect(uv).toContain('uv_poll_start')
  const exported = execFileSync('readelf', ['--dyn-syms', '-W', process.execPath], {
    encoding: 'utf8',
    maxBuffer: 256 * 1024 * 1024,
  })
    .split('\n')
    .map((l) => l.trim().split(/\s+/))
    .filter((f) => f.length >= 8 && f[6] !== 'UND')
    .map((f) => f[7].replace(/@.*$/, ''))
  const ours = new Set(exported)
  const missing = uv.filter((s) => !ours.has(s))
  expect(missing).toEqual([])
})

describe('x64 musl binary', () => {
  it('loads under musl (Alpine-like), where the glibc dev build does not', () => {
    const r = muslLoad(artifactPath('x86_64-unknown-linux-musl'))
    expect(r.stderr).toBe('')
    expect(r.stdout.trim()).toBe('loaded')
    expect(r.status).toBe(0)
    const gnu = muslLoad(path.join(root, 'ferrocache.linux-x64-gnu.node'))
    expect(gnu.status).not.toBe(0)
    expect(gnu.stderr).toMatch(/dlopen: /)
  }, 120_000)
})

describe('a missing platform package', () => {
  it('names the package and how to install it', () => {
    expect(platformPackage('linux', 'x64', true)).toBe('ferrocache-linux-x64-musl')
    expect(platformPackage('linux', 'arm64', false)).toBe('ferrocache-linux-arm64-gnu')
    expect(platformPackage('darwin', 'arm64', false)).toBe('ferrocache-darwin-arm64')
    expect(platformPackage('win32', 'x64', false)).toBe('ferrocache-win32-x64-msvc')
    expect(missingBinaryMessage('ferrocache-linux-x64-musl', new Error('x'))).toContain(
      'npm install ferrocache-linux-x64-musl',
    )
  })

  it('is what loading the package without its binary throws', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ferrocache-nobin-'))
    try {
      for (const f of ['index.js', 'binding.js', 'package.json'])
        fs.copyFileSync(path.join(root, f), path.join(dir, f))
      fs.cpSync(path.join(root, 'dist'), path.join(dir, 'dist'), { recursive: true })
      const r = spawnSync(
        process.execPath,
        ['-e', "try { require('./index.js') } catch (e) { console.log(e.code, e.message) }"],
        {
          cwd: dir,
          encoding: 'utf8',
          env: { ...process.env, NAPI_RS_FORCE_WASI: '' },
        },
      )
      expect(r.stdout).toContain('E_NATIVE_MISSING')
      expect(r.stdout).toContain(`npm install ${platformPackage()}`)
      expect(r.stdout).not.toContain('wasm32-wasi')
    } finally {
      fs.rmSync(dir, { recursive: true, force: true })
    }
  })
})
