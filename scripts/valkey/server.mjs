// Starts throw-away valkey-server processes on loopback.
import net from 'node:net'
import { valkeyBinary } from './fetch.mjs'
import { makeTempDir, removeTempDir, spawnTracked, stopChild } from './proc.mjs'
import { valkeyCommand } from './resp.mjs'

export const HOST = '127.0.0.1'
const START_TIMEOUT_MS = 10_000

/** A TCP port that was free on 127.0.0.1 a moment ago. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer()
    srv.unref()
    srv.on('error', reject)
    srv.listen(0, HOST, () => {
      const { port } = srv.address()
      srv.close(() => resolve(port))
    })
  })
}

export function redisUrl(port, password) {
  return password ? `redis://:${encodeURIComponent(password)}@${HOST}:${port}` : `redis://${HOST}:${port}`
}

async function spawnOnce(bin, port, dir, opts) {
  const args = ['--port', String(port), '--bind', HOST, '--save', '', '--appendonly', 'no']
  args.push('--dir', dir, '--daemonize', 'no', '--logfile', '')
  if (opts.password) args.push('--requirepass', opts.password)
  args.push(...(opts.args ?? []))
  const child = spawnTracked(bin, args, { cwd: dir })
  const target = { host: HOST, port, password: opts.password || undefined }
  // Ready once the server on that port answers and is our child (not some other server that already
  // holds the port while ours is failing with "Address already in use").
  const ours = new RegExp(`^process_id:${child.pid}\\r?$`, 'm')
  const deadline = Date.now() + START_TIMEOUT_MS
  while (child.isRunning() && Date.now() < deadline) {
    const info = await valkeyCommand(target, 'INFO', 'server').catch(() => '')
    if (child.isRunning() && ours.test(info)) return child
    await new Promise((r) => setTimeout(r, 50))
  }
  const running = child.isRunning()
  await stopChild(child, 500)
  const why = running ? `did not answer within ${START_TIMEOUT_MS / 1000} s` : 'exited during start-up'
  const err = new Error(
    `valkey-server on ${HOST}:${port} ${why}:\n  ${bin} ${args.join(' ')}\n${child.tail()}`,
  )
  err.addressInUse = /address already in use/i.test(child.tail())
  throw err
}

/**
 * Starts `valkey-server` on 127.0.0.1 (a free port unless `opts.port`), without persistence, in a
 * fresh temp dir, and waits until it answers PING. `opts.args` are extra server arguments.
 */
export async function startValkey(opts = {}) {
  const bin = await valkeyBinary()
  const dir = makeTempDir('valkey')
  let child
  let port
  try {
    for (let attempt = 1; ; attempt++) {
      port = opts.port ?? (await freePort())
      try {
        child = await spawnOnce(bin, port, dir, opts)
        break
      } catch (e) {
        // Another process can grab the port between freePort() and bind(): try another one.
        if (!e.addressInUse || opts.port || attempt >= 3) throw e
      }
    }
  } catch (e) {
    removeTempDir(dir)
    throw e
  }
  let stopping = null
  const server = {
    url: redisUrl(port, opts.password),
    host: HOST,
    port,
    pid: child.pid,
    dir,
    /** The server's recent stdout/stderr, for error messages. */
    log: () => child.tail(),
    /** Sends a signal right away (default SIGKILL: a crash), without cleaning up. */
    kill(signal = 'SIGKILL') {
      if (child.isRunning()) child.kill(signal)
    },
    /** Starts the server again on the same port and dir (after kill() or a crash). */
    async restart() {
      if (child.isRunning()) await stopChild(child)
      child = await spawnOnce(bin, port, dir, opts)
      server.pid = child.pid
    },
    /** SIGTERM, SIGKILL after 3 s, then removes the temp dir. Idempotent. */
    stop() {
      stopping ??= stopChild(child, 3000).then(() => removeTempDir(dir))
      return stopping
    },
  }
  return server
}
