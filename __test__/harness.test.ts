/** Tests of the real-Valkey harness itself (scripts/valkey.mjs): servers, auth, cluster, TLS. */
import fs from 'node:fs'
import net from 'node:net'
import tls from 'node:tls'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import {
  ValkeyReplyError,
  freePort,
  parseReply,
  startTlsValkey,
  startValkey,
  valkeyBinary,
  valkeyCommand,
  valkeyPipeline,
  type Reply,
  type TlsValkey,
  type ValkeyServer,
} from '../scripts/valkey.mjs'

const key = (tag: string): string => `harness:${process.pid}:${tag}:${Math.random().toString(36).slice(2)}`

async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p
  } catch (e) {
    return e as Error
  }
  throw new Error('expected the promise to reject')
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/** Parsed `INFO`-style text (`key:value` lines). */
function fields(text: string): Record<string, string> {
  const out: Record<string, string> = {}
  for (const line of text.split('\r\n')) {
    const i = line.indexOf(':')
    if (i > 0) out[line.slice(0, i)] = line.slice(i + 1)
  }
  return out
}

describe('binary and RESP helpers', () => {
  it('valkeyBinary() returns an executable valkey-server', async () => {
    const bin = await valkeyBinary()
    expect(() => fs.accessSync(bin, fs.constants.X_OK)).not.toThrow()
  })

  it('freePort() returns a port that can be bound', async () => {
    const port = await freePort()
    expect(port).toBeGreaterThan(0)
    const srv = net.createServer()
    await new Promise<void>((resolve, reject) => srv.once('error', reject).listen(port, '127.0.0.1', resolve))
    await new Promise((r) => srv.close(r))
  })

  it('parseReply() decodes nested arrays, nulls, integers and errors, and waits for whole replies', () => {
    const wire = Buffer.from('*4\r\n$3\r\nfoo\r\n$-1\r\n:42\r\n*2\r\n+OK\r\n-ERR bad\r\n')
    const [value, end] = parseReply(wire)!
    expect(end).toBe(wire.length)
    const [foo, nil, n, [ok, err]] = value as [string, null, number, [string, ValkeyReplyError]]
    expect([foo, nil, n, ok]).toEqual(['foo', null, 42, 'OK'])
    expect(err).toBeInstanceOf(ValkeyReplyError)
    expect(err.code).toBe('ERR')
    expect(parseReply(wire.subarray(0, wire.length - 3))).toBeUndefined()
  })
})

describe('standalone server from globalSetup', () => {
  const url = inject('valkeyUrl')

  it('answers PING', async () => {
    expect(await valkeyCommand(url, 'PING')).toBe('PONG')
  })

  it('round-trips SET/GET, including binary-safe values', async () => {
    const k = key('setget')
    const value = 'héllo\r\nwörld\u0000!'
    expect(await valkeyCommand(url, 'SET', k, value, 'EX', 60)).toBe('OK')
    expect(await valkeyCommand(url, 'GET', k)).toBe(value)
    expect(await valkeyCommand(url, 'DEL', k)).toBe(1)
    expect(await valkeyCommand(url, 'GET', k)).toBeNull()
  })

  it('pipelines commands and returns error replies in place', async () => {
    const k = key('pipe')
    const replies = await valkeyPipeline(url, [['SET', k, '1'], ['INCR', k], ['NOSUCHCOMMAND'], ['DEL', k]])
    expect(replies.slice(0, 2)).toEqual(['OK', 2])
    expect(replies[2]).toBeInstanceOf(ValkeyReplyError)
    expect(replies[3]).toBe(1)
    const err = await rejection(valkeyCommand(url, 'NOSUCHCOMMAND'))
    expect(err).toBeInstanceOf(ValkeyReplyError)
    expect((err as ValkeyReplyError).code).toBe('ERR')
  })
})

describe('startValkey()', () => {
  let server: ValkeyServer
  beforeAll(async () => {
    server = await startValkey({ password: 's3cret:/@pw' })
  })
  afterAll(() => server?.stop())

  it('puts the password in the URL and requires it', async () => {
    expect(server.url).toBe(`redis://:s3cret%3A%2F%40pw@127.0.0.1:${server.port}`)
    const k = key('auth')
    expect(await valkeyCommand(server.url, 'SET', k, 'v')).toBe('OK')
    expect(await valkeyCommand(server.url, 'GET', k)).toBe('v')
    const noauth = await rejection(valkeyCommand(`redis://127.0.0.1:${server.port}`, 'GET', k))
    expect(noauth).toBeInstanceOf(ValkeyReplyError)
    expect((noauth as ValkeyReplyError).code).toBe('NOAUTH')
    const wrong = await rejection(valkeyCommand(`redis://:nope@127.0.0.1:${server.port}`, 'GET', k))
    expect((wrong as ValkeyReplyError).code).toBe('WRONGPASS')
  })

  it('kill() crashes the server and restart() brings it back on the same port', async () => {
    const before = server.pid
    server.kill()
    await expect(valkeyCommand(server.url, 'PING')).rejects.toThrow()
    await server.restart()
    expect(server.pid).not.toBe(before)
    expect(await valkeyCommand(server.url, 'PING')).toBe('PONG')
  })

  it('stop() ends the process and removes its temp dir', async () => {
    const s = await startValkey({ args: ['--maxmemory', '10mb'] })
    expect(fields(await valkeyCommand<string>(s.url, 'INFO', 'memory')).maxmemory).toBe(
      String(10 * 1024 * 1024),
    )
    expect(alive(s.pid)).toBe(true)
    await s.stop()
    expect(alive(s.pid)).toBe(false)
    expect(fs.existsSync(s.dir)).toBe(false)
    await s.stop() // idempotent
  })

  it('does not mistake another server already on the requested port for its own', async () => {
    const err = await rejection(startValkey({ port: server.port }))
    expect(err.message).toMatch(/exited during start-up/)
    expect(err.message).toMatch(/address already in use/i)
    expect(await valkeyCommand(server.url, 'PING')).toBe('PONG')
  })

  it('rejects with the server output when valkey-server cannot start', async () => {
    const err = await rejection(startValkey({ args: ['--no-such-option', 'x'] }))
    expect(err.message).toMatch(/exited during start-up/)
    expect(err.message).toMatch(/no-such-option/)
  })
})

describe('cluster from globalSetup', () => {
  const nodes = inject('clusterNodes')

  it.skipIf(nodes.length === 0)('every node reports cluster_state:ok and knows all 3 nodes', async () => {
    expect(nodes).toHaveLength(3)
    for (const node of nodes) {
      const info = fields(await valkeyCommand<string>(node, 'CLUSTER', 'INFO'))
      expect(info.cluster_state).toBe('ok')
      expect(info.cluster_slots_assigned).toBe('16384')
      expect(info.cluster_known_nodes).toBe('3')
      expect(info.cluster_size).toBe('3')
    }
  })

  it.skipIf(nodes.length === 0)('CLUSTER SLOTS covers all 16384 slots across the 3 nodes', async () => {
    const slots = (await valkeyCommand<Reply[]>(nodes[0], 'CLUSTER', 'SLOTS')) as [number, number, Reply[]][]
    const ranges = slots.map(([from, to, [host, port]]) => ({ from, to, addr: `redis://${host}:${port}` }))
    ranges.sort((a, b) => a.from - b.from)
    let next = 0
    for (const r of ranges) {
      expect(r.from).toBe(next)
      next = r.to + 1
    }
    expect(next).toBe(16384)
    expect(new Set(ranges.map((r) => r.addr))).toEqual(new Set(nodes))
  })

  it.skipIf(nodes.length === 0)('CLUSTER SHARDS agrees: 3 shards, one primary each, all slots', async () => {
    const shards = (await valkeyCommand<Reply[]>(nodes[1], 'CLUSTER', 'SHARDS')) as Reply[][]
    expect(shards).toHaveLength(3)
    let covered = 0
    const ports = new Set<number>()
    for (const shard of shards) {
      const s = Object.fromEntries(
        Array.from({ length: shard.length / 2 }, (_, i) => [shard[2 * i], shard[2 * i + 1]]),
      )
      const bounds = s.slots as number[]
      for (let i = 0; i < bounds.length; i += 2) covered += bounds[i + 1] - bounds[i] + 1
      const members = (s.nodes as Reply[][]).map((n) =>
        Object.fromEntries(Array.from({ length: n.length / 2 }, (_, i) => [n[2 * i], n[2 * i + 1]])),
      )
      expect(members.filter((m) => m.role === 'master')).toHaveLength(1)
      for (const m of members) ports.add(m.port as number)
    }
    expect(covered).toBe(16384)
    expect(new Set([...ports].map((p) => `redis://127.0.0.1:${p}`))).toEqual(new Set(nodes))
  })

  it.skipIf(nodes.length === 0)(
    'a key is served by exactly one node; the others answer MOVED to it',
    async () => {
      const k = key('cluster')
      const replies = await Promise.all(nodes.map((n) => valkeyPipeline(n, [['SET', k, 'v', 'EX', 60]])))
      const owners = nodes.filter((_, i) => replies[i][0] === 'OK')
      expect(owners).toHaveLength(1)
      for (const [r] of replies.filter(([r]) => r !== 'OK')) {
        expect(r).toBeInstanceOf(ValkeyReplyError)
        expect((r as ValkeyReplyError).message).toMatch(
          new RegExp(`^MOVED \\d+ ${owners[0].replace('redis://', '').replace(/\./g, '\\.')}$`),
        )
      }
      expect(await valkeyCommand(owners[0], 'GET', k)).toBe('v')
    },
  )
})

describe('startTlsValkey()', () => {
  let t: TlsValkey
  beforeAll(async () => {
    t = await startTlsValkey()
  })
  afterAll(() => t?.stop())

  /** Sends PING over node:tls, verifying the server certificate against `ca`. */
  function tlsPing(opts: tls.ConnectionOptions): Promise<string> {
    return new Promise((resolve, reject) => {
      const sock = tls.connect({ host: '127.0.0.1', port: t.port, ...opts }, () => {
        if (!sock.authorized) reject(sock.authorizationError)
        sock.write('*1\r\n$4\r\nPING\r\n')
      })
      sock.setTimeout(5000, () => sock.destroy(new Error('TLS PING timed out')))
      sock.on('data', (d) => {
        resolve(d.toString())
        sock.end()
      })
      sock.on('error', reject)
    })
  }

  it('serves rediss:// with a certificate for 127.0.0.1 and localhost signed by the generated CA', async () => {
    expect(t.url).toBe(`rediss://127.0.0.1:${t.port}`)
    expect(t.mode).toBe(process.env.FERROCACHE_TLS_BACKEND || 'node')
    expect(t.caPem).toContain('BEGIN CERTIFICATE')
    expect(fs.readFileSync(t.caFile, 'utf8')).toBe(t.caPem)
    expect(await tlsPing({ ca: t.caPem })).toBe('+PONG\r\n')
    expect(await tlsPing({ ca: t.caPem, servername: 'localhost' })).toBe('+PONG\r\n')
    expect(await valkeyCommand({ port: t.port, tls: { ca: t.caPem } }, 'PING')).toBe('PONG')
  })

  it('reaches the same data over TLS and over the plain backend URL', async () => {
    const k = key('tls')
    expect(await valkeyCommand({ port: t.port, tls: { ca: t.caPem } }, 'SET', k, 'over-tls')).toBe('OK')
    expect(await valkeyCommand(t.plainUrl, 'GET', k)).toBe('over-tls')
  })

  it('is rejected by a client that does not trust the CA', async () => {
    const err = await rejection(tlsPing({}))
    expect(String((err as NodeJS.ErrnoException).code ?? err.message)).toMatch(/SELF_SIGNED|UNABLE_TO|CERT/i)
  })

  it('does not speak plain RESP on the TLS port', async () => {
    const err = await rejection(
      valkeyPipeline(`redis://127.0.0.1:${t.port}`, [['PING']], { timeoutMs: 3000 }),
    )
    expect(err).not.toBeInstanceOf(ValkeyReplyError)
    expect(err.message).toMatch(/closed|ECONNRESET|no reply|EPIPE/)
  })
})
