/**
 * A small RESP2 connection for the operations tools (inspect, the CLI): they talk to every server
 * of a deployment, replicas included, which the engine's pools (one per primary) do not reach. Not
 * on any hot path: one command at a time or a short pipeline, each bounded by a timeout.
 */
import net from 'node:net'
import tls from 'node:tls'
import { AuthError, CacheError, ConnectionError, TimeoutError } from '../core/errors'

/** A reply: status/bulk as Buffer, integer, null, array, or an error reply (returned as a value). */
export type Reply = Buffer | number | null | ReplyError | Reply[]

export class ReplyError extends Error {
  readonly code: string
  constructor(message: string) {
    super(message)
    this.code = message.split(' ')[0]
  }
}

export interface Endpoint {
  host: string
  port: number
  tls: boolean
  username?: string
  password?: string
  db?: number
}

/** Parses `redis://[user:password@]host:port[/db]` / `rediss://…`. */
export function endpointOf(url: string): Endpoint {
  const u = new URL(url)
  const db = u.pathname.replace(/^\//, '')
  return {
    host: u.hostname.replace(/^\[|\]$/g, ''),
    port: Number(u.port || 6379),
    tls: u.protocol === 'rediss:',
    username: u.username ? decodeURIComponent(u.username) : undefined,
    password: u.password ? decodeURIComponent(u.password) : undefined,
    db: db ? Number(db) : undefined,
  }
}

function encode(args: (string | Buffer | number)[]): Buffer {
  const parts: Buffer[] = [Buffer.from(`*${args.length}\r\n`)]
  for (const a of args) {
    const b = Buffer.isBuffer(a) ? a : Buffer.from(String(a))
    parts.push(Buffer.from(`$${b.length}\r\n`), b, Buffer.from('\r\n'))
  }
  return Buffer.concat(parts)
}

/** One reply at `pos`, or undefined when the buffer holds only part of it. */
function parse(buf: Buffer, pos: number): [Reply, number] | undefined {
  const eol = buf.indexOf('\r\n', pos)
  if (eol < 0) return undefined
  const type = buf[pos]
  const next = eol + 2
  if (type === 0x2b) return [buf.subarray(pos + 1, eol), next] // +
  if (type === 0x2d) return [new ReplyError(buf.toString('utf8', pos + 1, eol)), next] // -
  if (type === 0x3a) return [Number(buf.toString('latin1', pos + 1, eol)), next] // :
  if (type === 0x24) {
    const len = Number(buf.toString('latin1', pos + 1, eol))
    if (len < 0) return [null, next]
    if (buf.length < next + len + 2) return undefined
    return [Buffer.from(buf.subarray(next, next + len)), next + len + 2]
  }
  if (type === 0x2a) {
    const n = Number(buf.toString('latin1', pos + 1, eol))
    if (n < 0) return [null, next]
    const out: Reply[] = []
    let p = next
    for (let i = 0; i < n; i++) {
      const r = parse(buf, p)
      if (r === undefined) return undefined
      out.push(r[0])
      p = r[1]
    }
    return [out, p]
  }
  throw new CacheError('E_SERVER', `unexpected reply byte 0x${type.toString(16)} from the server`)
}

/** One connection; commands are answered in order. */
export class RespConnection {
  private buf: Buffer = Buffer.alloc(0)
  private waiting: { resolve: (r: Reply) => void; reject: (e: Error) => void }[] = []
  private failed?: Error

  private constructor(
    private readonly socket: net.Socket,
    private readonly timeoutMs: number,
  ) {
    socket.on('data', (d: Buffer) => {
      this.buf = this.buf.length === 0 ? d : Buffer.concat([this.buf, d])
      let pos = 0
      try {
        for (;;) {
          const r = parse(this.buf, pos)
          if (r === undefined) break
          pos = r[1]
          this.waiting.shift()?.resolve(r[0])
        }
      } catch (e) {
        this.fail(e as Error)
      }
      this.buf = this.buf.subarray(pos)
    })
    socket.on('error', (e) => this.fail(new ConnectionError(e.message)))
    socket.on('close', () => this.fail(new ConnectionError('the server closed the connection')))
  }

  /** Connects, authenticates and selects the database. Rejects with E_CONNECTION / E_AUTH / E_TIMEOUT. */
  static async open(ep: Endpoint, o: { timeoutMs: number; tlsCa?: string }): Promise<RespConnection> {
    const where = `${ep.host}:${ep.port}`
    const socket: net.Socket = await new Promise((resolve, reject) => {
      const s = ep.tls
        ? tls.connect({
            host: ep.host,
            port: ep.port,
            ca: o.tlsCa,
            ...(net.isIP(ep.host) ? {} : { servername: ep.host }),
          })
        : net.connect({ host: ep.host, port: ep.port })
      const timer = setTimeout(() => {
        s.destroy()
        reject(new TimeoutError(`no connection to ${where} within ${o.timeoutMs} ms`))
      }, o.timeoutMs)
      s.once(ep.tls ? 'secureConnect' : 'connect', () => {
        clearTimeout(timer)
        resolve(s)
      })
      s.once('error', (e) => {
        clearTimeout(timer)
        reject(new ConnectionError(`cannot connect to ${where}: ${e.message}`))
      })
    })
    socket.setNoDelay(true)
    const c = new RespConnection(socket, o.timeoutMs)
    try {
      if (ep.password !== undefined) {
        const r = await c.call(ep.username ? ['AUTH', ep.username, ep.password] : ['AUTH', ep.password])
        if (r instanceof ReplyError) throw new AuthError(`${where} refused the credentials (${r.code})`)
      }
      if (ep.db !== undefined && ep.db !== 0) c.check(await c.call(['SELECT', ep.db]), 'SELECT')
      const ping = await c.call(['PING'])
      if (ping instanceof ReplyError) {
        if (ping.code === 'NOAUTH') throw new AuthError(`${where} requires a password (put it in the URL)`)
        throw new CacheError('E_SERVER', `${where}: ${ping.message}`)
      }
    } catch (e) {
      c.close()
      throw e
    }
    return c
  }

  /** One command; an error reply is returned as a ReplyError value. */
  call(args: (string | Buffer | number)[]): Promise<Reply> {
    if (this.failed) return Promise.reject(this.failed)
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.fail(
          new TimeoutError(`the server did not answer ${String(args[0])} within ${this.timeoutMs} ms`),
        )
      }, this.timeoutMs)
      this.waiting.push({
        resolve: (r) => {
          clearTimeout(timer)
          resolve(r)
        },
        reject: (e) => {
          clearTimeout(timer)
          reject(e)
        },
      })
      this.socket.write(encode(args))
    })
  }

  /** Several commands in one write; replies in order. */
  pipeline(commands: (string | Buffer | number)[][]): Promise<Reply[]> {
    return Promise.all(commands.map((c) => this.call(c)))
  }

  /** Throws a ReplyError reply as an E_SERVER error. */
  check(r: Reply, what: string): Reply {
    if (r instanceof ReplyError) throw new CacheError('E_SERVER', `${what}: ${r.message}`)
    return r
  }

  close(): void {
    this.failed ??= new ConnectionError('connection closed')
    this.socket.destroy()
  }

  private fail(e: Error): void {
    if (this.failed === undefined) this.failed = e
    const w = this.waiting
    this.waiting = []
    for (const x of w) x.reject(e)
    this.socket.destroy()
  }
}

/** A bulk/status reply as text. */
export function text(r: Reply): string {
  return Buffer.isBuffer(r) ? r.toString('utf8') : r === null ? '' : String(r)
}
