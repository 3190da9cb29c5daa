// A TLS terminator in front of a plain Valkey port, in Node itself (no stunnel, no openssl CLI):
//   node scripts/valkey/tls-proxy.mjs <cert.pem> <key.pem> <backendHost> <backendPort>
// Listens on a free 127.0.0.1 port, prints `listening <port>` once ready, and pipes every TLS
// connection to the backend. Runs as its own process so a test's busy event loop cannot stall it.
import fs from 'node:fs'
import net from 'node:net'
import tls from 'node:tls'

const [certFile, keyFile, backendHost, backendPort] = process.argv.slice(2)
if (!backendPort) {
  console.error('usage: tls-proxy.mjs <cert.pem> <key.pem> <backendHost> <backendPort>')
  process.exit(2)
}

const server = tls.createServer(
  { cert: fs.readFileSync(certFile), key: fs.readFileSync(keyFile) },
  (front) => {
    const back = net.connect(Number(backendPort), backendHost)
    front.setNoDelay(true)
    back.setNoDelay(true)
    front.pipe(back)
    back.pipe(front)
    // Either side closing or failing closes the other, like a real terminator.
    const close = () => {
      front.destroy()
      back.destroy()
    }
    front.on('error', close).on('close', close)
    back.on('error', close).on('close', close)
  },
)
// A handshake a client aborts (e.g. one that does not trust the CA) is not an error of the proxy.
server.on('tlsClientError', () => {})
server.listen(0, '127.0.0.1', () => console.log(`listening ${server.address().port}`))
const stop = () => server.close(() => process.exit(0))
process.on('SIGTERM', stop)
process.on('SIGINT', stop)
