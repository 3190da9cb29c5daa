// Diagnostic: does answering an HTTP request synchronously cost the server more CPU than answering
// after a microtask or a setImmediate, on plain node:http (no tRPC, no web streams)? The tRPC
// benchmark (`node bench/trpc.mjs --only http --extra "ceiling (async answer)"`) shows the zero-cost
// ceiling costing more server CPU per request than the same answer after a setImmediate; this tells
// whether that is Node's HTTP server or the layers above it.
//   node bench/http-answer.mjs [--rounds N] [--slice MS]
import { fork } from 'node:child_process'
import http from 'node:http'
import { parseArgs } from 'node:util'
import { median } from './harness.mjs'

const CLIENTS = 32
const { values: args } = parseArgs({
  options: {
    serve: { type: 'boolean', default: false },
    rounds: { type: 'string', default: '3' },
    slice: { type: 'string', default: '2000' },
  },
})

if (args.serve) {
  const rows = Array.from({ length: 10 }, (_, i) => ({ i, name: `row ${i}`, at: new Date(0).toISOString() }))
  const body = JSON.stringify({ result: { data: { json: { id: 1, rows } } } })
  const answer = (res) => {
    res.setHeader('content-type', 'application/json')
    res.end(body)
  }
  const servers = {
    'at once': http.createServer((_req, res) => answer(res)),
    'after a microtask': http.createServer((_req, res) => void Promise.resolve().then(() => answer(res))),
    'after setImmediate': http.createServer((_req, res) => setImmediate(() => answer(res))),
  }
  const ports = {}
  for (const [name, server] of Object.entries(servers)) {
    await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
    ports[name] = server.address().port
  }
  process.send(ports)
  process.on('message', () => process.send(process.cpuUsage()))
} else {
  const rounds = Number(args.rounds)
  const sliceMs = Number(args.slice)
  const child = fork(new URL(import.meta.url), ['--serve'])
  const ports = await new Promise((resolve) => child.once('message', resolve))
  const agent = new http.Agent({ keepAlive: true, maxSockets: CLIENTS })
  const get = (port) =>
    new Promise((resolve, reject) => {
      http
        .get({ host: '127.0.0.1', port, path: '/', agent }, (res) => {
          res.resume()
          res.on('end', resolve)
        })
        .on('error', reject)
    })
  const serverCpu = () =>
    new Promise((resolve) => {
      child.once('message', resolve)
      child.send('cpu')
    })
  const results = Object.fromEntries(Object.keys(ports).map((k) => [k, { rate: [], cpu: [] }]))
  for (let r = 0; r < rounds; r++) {
    for (const [name, port] of Object.entries(ports)) {
      const before = await serverCpu()
      const end = Date.now() + sliceMs
      let n = 0
      await Promise.all(
        Array.from({ length: CLIENTS }, async () => {
          while (Date.now() < end) {
            await get(port)
            n++
          }
        }),
      )
      const after = await serverCpu()
      results[name].rate.push(n / (sliceMs / 1000))
      results[name].cpu.push((after.user + after.system - before.user - before.system) / n)
    }
  }
  child.kill()
  console.log(`plain node:http, ${CLIENTS} keep-alive clients, ${rounds} rounds × ${sliceMs} ms, medians`)
  for (const [name, { rate, cpu }] of Object.entries(results))
    console.log(
      `  ${name.padEnd(20)} ${median(rate).toFixed(0).padStart(7)} req/s  server CPU ${median(cpu).toFixed(1)} µs/request`,
    )
}
