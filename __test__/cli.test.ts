/** `ferrocache inspect` (the package's bin) run as a child process against real servers. */
import { spawn, spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { freePort, startValkey, type ValkeyServer } from '../scripts/valkey.mjs'
import { Cache } from '../ts/index'

const ROOT = path.resolve(__dirname, '..')
const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
  bin: { ferrocache: string }
}
const BIN = path.join(ROOT, pkg.bin.ferrocache)

function cli(args: string[], env: Record<string, string | undefined> = {}) {
  const r = spawnSync(process.execPath, [BIN, ...args], {
    encoding: 'utf8',
    env: {
      ...process.env,
      VALKEY_URL: undefined,
      FERROCACHE_URL: undefined,
      FERROCACHE_NODES: undefined,
      ...env,
    },
    timeout: 60_000,
  })
  return { status: r.status, stdout: r.stdout, stderr: r.stderr }
}

describe('npx ferrocache inspect', () => {
  let server: ValkeyServer
  const password = 'cli-pw-' + Math.random().toString(36).slice(2)
  beforeAll(async () => {
    server = await startValkey({ password })
    const c = new Cache({ url: server.url, prefix: 'shop:', logger: false })
    await c.setMany(
      Array.from({ length: 1234 }, (_, i) => ({ key: `p${i}`, value: { i, name: 'x'.repeat(i % 50) } })),
    )
    await c.get('p1')
    await c.get('nope')
    await c.close()
  })
  afterAll(async () => {
    await server.stop()
  })

  it('is the package bin', () => {
    expect(pkg.bin).toEqual({ ferrocache: './dist/cli.js' })
  })

  it('text: aligned tables, sizes in KiB, a hit-rate bar; reads VALKEY_URL', () => {
    const r = cli(['inspect', '--prefix', 'shop:'], { VALKEY_URL: server.url })
    expect(r.stderr).toBe('')
    expect(r.status).toBe(0)
    expect(r.stdout).toContain('SERVERS (1)')
    expect(r.stdout).toMatch(/entries\s+1,234 \(exact: scan completed\)/)
    expect(r.stdout).toMatch(/\d KiB/)
    expect(r.stdout).toMatch(/[█░]{10}\s+\d+\.\d%/)
    expect(r.stdout).not.toContain(password)
    const table = r.stdout.split('\n')
    const head = table.findIndex((l) => l.includes('ADDRESS'))
    expect(table[head + 1].indexOf('primary')).toBe(table[head].indexOf('ROLE')) // aligned
  })

  it('--json for scripts', () => {
    const r = cli(['inspect', '--url', server.url, '--prefix', 'shop:', '--json', '--top', '2'])
    expect(r.status).toBe(0)
    const j = JSON.parse(r.stdout)
    expect(j.mode).toBe('standalone')
    expect(j.keys.estimated).toBe(1234)
    expect(j.keys.biggest).toHaveLength(2)
    expect(j.servers[0].role).toBe('primary')
  })

  it('--nodes: every node of the cluster', () => {
    const r = cli(['inspect', '--nodes', inject('clusterNodes').join(','), '--json', '--sample', '10'])
    expect(r.status).toBe(0)
    expect(JSON.parse(r.stdout).servers).toHaveLength(3)
  })

  it('exit 1 with a one-line reason: dead port, wrong password, no password', async () => {
    const dead = cli(['inspect', '--url', `redis://127.0.0.1:${await freePort()}`])
    expect(dead.status).toBe(1)
    expect(dead.stdout).toBe('')
    expect(dead.stderr.trim().split('\n')).toHaveLength(1)
    expect(dead.stderr).toMatch(/^ferrocache inspect: E_CONNECTION: cannot connect to 127\.0\.0\.1:\d+/)

    const wrong = cli(['inspect', '--url', `redis://:not-the-password@127.0.0.1:${server.port}`])
    expect(wrong.status).toBe(1)
    expect(wrong.stderr.trim().split('\n')).toHaveLength(1)
    expect(wrong.stderr).toMatch(/E_AUTH: .*refused the credentials/)
    expect(wrong.stderr).not.toContain('not-the-password')

    const none = cli(['inspect', '--url', `redis://127.0.0.1:${server.port}`])
    expect(none.status).toBe(1)
    expect(none.stderr).toMatch(/E_AUTH: .*requires a password/)
  })

  it('bad usage: exit 2 with the usage', () => {
    const r = cli(['inspect'])
    expect(r.status).toBe(2)
    expect(r.stderr).toMatch(/no server: pass --url or --nodes, or set VALKEY_URL/)
    expect(cli(['frobnicate']).status).toBe(2)
  })

  it('--watch refreshes until interrupted', async () => {
    const child = spawn(process.execPath, [
      BIN,
      'inspect',
      '--url',
      server.url,
      '--prefix',
      'shop:',
      '--json',
      '--watch',
      '0.1',
    ])
    let out = ''
    child.stdout.on('data', (d) => (out += d))
    await new Promise<void>((resolve) => {
      const check = (): void => {
        if (out.split('\n').filter(Boolean).length >= 3) resolve()
        else setTimeout(check, 20)
      }
      check()
    })
    child.kill('SIGINT')
    const code = await new Promise((r) => child.on('exit', r))
    expect(code).toBe(0)
    const docs = out
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l))
    expect(docs.length).toBeGreaterThanOrEqual(3)
    expect(docs.every((d) => d.keys.estimated === 1234)).toBe(true)
  })
})
