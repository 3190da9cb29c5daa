// A tiny RESP2 client over node:net / node:tls: enough for test set-up and assertions, no npm deps.
import net from 'node:net'
import tls from 'node:tls'

/** An error reply from the server (`-ERR …`, `-NOAUTH …`, `-MOVED …`). */
export class ValkeyReplyError extends Error {
  constructor(message) {
    super(message)
    this.name = 'ValkeyReplyError'
    this.code = message.split(' ')[0]
  }
}

export function encodeCommand(args) {
  const parts = [Buffer.from(`*${args.length}\r\n`)]
  for (const a of args) {
    const b = Buffer.isBuffer(a) ? a : Buffer.from(String(a))
    parts.push(Buffer.from(`$${b.length}\r\n`), b, Buffer.from('\r\n'))
  }
  return Buffer.concat(parts)
}

/**
 * Parses one reply at `pos`. Returns `[value, nextPos]`, or `undefined` if the buffer is incomplete.
 * Simple strings and bulk strings → string (bulk null → null), integers → number, errors →
 * ValkeyReplyError (returned, not thrown, so errors nested in arrays survive), arrays → arrays.
 */
export function parseReply(buf, pos = 0) {
  const eol = buf.indexOf('\r\n', pos)
  if (eol < 0) return undefined
  const type = String.fromCharCode(buf[pos])
  const line = buf.toString('utf8', pos + 1, eol)
  const next = eol + 2
  switch (type) {
    case '+':
      return [line, next]
    case '-':
      return [new ValkeyReplyError(line), next]
    case ':':
      return [Number(line), next]
    case '$': {
      const len = Number(line)
      if (len < 0) return [null, next]
      if (buf.length < next + len + 2) return undefined
      return [buf.toString('utf8', next, next + len), next + len + 2]
    }
    case '*': {
      const n = Number(line)
      if (n < 0) return [null, next]
      const out = []
      let p = next
      for (let i = 0; i < n; i++) {
        const r = parseReply(buf, p)
        if (!r) return undefined
        out.push(r[0])
        p = r[1]
      }
      return [out, p]
    }
    default:
      throw new Error(`unexpected RESP type byte ${JSON.stringify(type)} in reply`)
  }
}

/**
 * Accepts `redis://[user:pass@]host:port[/db]`, `rediss://…`, `host:port`, a port number, or an object
 * `{ host, port, password?, username?, tls?: tls.ConnectionOptions | true }`.
 */
export function parseTarget(target) {
  if (typeof target === 'number') return { host: '127.0.0.1', port: target }
  if (typeof target === 'object' && target !== null) return { host: '127.0.0.1', ...target }
  const s = String(target)
  if (!s.includes('://')) {
    const i = s.lastIndexOf(':')
    return { host: s.slice(0, i) || '127.0.0.1', port: Number(s.slice(i + 1)) }
  }
  const u = new URL(s)
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') throw new Error(`not a redis URL: ${s}`)
  const db = u.pathname.replace(/^\//, '')
  return {
    host: u.hostname.replace(/^\[|\]$/g, ''),
    port: Number(u.port || 6379),
    username: u.username ? decodeURIComponent(u.username) : undefined,
    password: u.password ? decodeURIComponent(u.password) : undefined,
    db: db ? Number(db) : undefined,
    tls: u.protocol === 'rediss:' ? true : undefined,
  }
}

/**
 * Sends several commands on one connection (after AUTH/SELECT from the target) and resolves with the
 * replies in order; error replies are returned as ValkeyReplyError values. Rejects on connection
 * errors, on a failed AUTH/SELECT, and after `timeoutMs`.
 */
export function valkeyPipeline(target, commands, { timeoutMs = 5000 } = {}) {
  const t = parseTarget(target)
  const pre = []
  if (t.password !== undefined) pre.push(t.username ? ['AUTH', t.username, t.password] : ['AUTH', t.password])
  if (t.db) pre.push(['SELECT', t.db])
  const all = [...pre, ...commands]
  return new Promise((resolve, reject) => {
    const tlsOpts = t.tls === true ? {} : t.tls
    const sock = tlsOpts
      ? tls.connect({
          host: t.host,
          port: t.port,
          servername: net.isIP(t.host) ? undefined : t.host,
          ...tlsOpts,
        })
      : net.connect({ host: t.host, port: t.port })
    let buf = Buffer.alloc(0)
    let pos = 0
    const replies = []
    const finish = (err, value) => {
      clearTimeout(timer)
      sock.destroy()
      if (err) reject(err)
      else resolve(value)
    }
    const timer = setTimeout(
      () => finish(new Error(`valkey ${t.host}:${t.port}: no reply within ${timeoutMs} ms`)),
      timeoutMs,
    )
    sock.once(tlsOpts ? 'secureConnect' : 'connect', () => sock.write(Buffer.concat(all.map(encodeCommand))))
    sock.on('error', (e) => finish(e))
    sock.on('close', () =>
      finish(new Error(`valkey ${t.host}:${t.port}: connection closed before the reply`)),
    )
    sock.on('data', (chunk) => {
      buf = Buffer.concat([buf, chunk])
      try {
        for (let r; replies.length < all.length && (r = parseReply(buf, pos)); pos = r[1]) replies.push(r[0])
      } catch (e) {
        return finish(e)
      }
      if (replies.length < all.length) return
      const bad = replies.slice(0, pre.length).find((r) => r instanceof ValkeyReplyError)
      finish(bad, replies.slice(pre.length))
    })
  })
}

/**
 * Sends one command and resolves with its reply; an error reply rejects with ValkeyReplyError.
 * e.g. `await valkeyCommand('redis://127.0.0.1:6379', 'SET', 'k', 'v')`.
 */
export async function valkeyCommand(target, ...args) {
  const [reply] = await valkeyPipeline(target, [args])
  if (reply instanceof ValkeyReplyError) throw reply
  return reply
}

/** Polls PING until it answers PONG or `timeoutMs` passes; resolves true/false. */
export async function waitForPing(target, { timeoutMs = 10_000, intervalMs = 50, alive = () => true } = {}) {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline && alive()) {
    try {
      if ((await valkeyCommand(target, 'PING')) === 'PONG') return true
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, intervalMs))
  }
  return false
}
