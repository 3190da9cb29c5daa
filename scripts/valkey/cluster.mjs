// A real Valkey Cluster on loopback: MEET, ADDSLOTSRANGE, optional REPLICATE, wait for cluster_state:ok.
import path from 'node:path'
import { freePort, startValkey } from './server.mjs'
import { valkeyCommand } from './resp.mjs'

const SLOTS = 16384
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

async function waitFor(what, timeoutMs, check) {
  const deadline = Date.now() + timeoutMs
  let last
  for (;;) {
    try {
      if (await check()) return
    } catch (e) {
      last = e
    }
    if (Date.now() > deadline) {
      throw new Error(
        `cluster: timed out after ${timeoutMs / 1000} s waiting for ${what}${last ? `: ${last.message}` : ''}`,
      )
    }
    await sleep(100)
  }
}

function info(text) {
  return Object.fromEntries(
    text
      .split('\r\n')
      .filter((l) => l.includes(':'))
      .map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 1)]),
  )
}

/** Parsed `CLUSTER NODES`: [{ id, addr, flags: string[], master }] */
function clusterNodes(text) {
  return text
    .trim()
    .split('\n')
    .map((l) => l.split(' '))
    .map(([id, addr, flags, master]) => ({ id, addr, flags: flags.split(','), master }))
}

/**
 * Starts `primaries` (default 3) masters, each with `replicas` (default 0) replicas, joins them into
 * one cluster with every slot assigned, and resolves once every node reports `cluster_state:ok` and
 * knows every other node. `nodes` holds the primaries' `redis://` URLs (seeds), `replicaNodes` the rest.
 */
export async function startCluster(opts = {}) {
  const primaries = opts.primaries ?? 3
  const replicas = opts.replicas ?? 0
  const timeoutMs = opts.timeoutMs ?? 30_000
  if (primaries < 1 || primaries > SLOTS) throw new Error(`cluster: bad primaries count ${primaries}`)
  const total = primaries * (1 + replicas)
  const started = await Promise.allSettled(
    Array.from({ length: total }, async () => {
      const busPort = await freePort()
      const server = await startValkey({
        args: [
          '--cluster-enabled',
          'yes',
          '--cluster-port',
          String(busPort),
          '--cluster-node-timeout',
          '2000',
          // valkey resolves this relative to --dir, which startValkey sets to the node's temp dir
          '--cluster-config-file',
          'nodes.conf',
          // replicas sync at once instead of after the default 5 s diskless-sync delay
          '--repl-diskless-sync-delay',
          '0',
          ...(opts.args ?? []),
        ],
      })
      server.busPort = busPort
      server.nodesConf = path.join(server.dir, 'nodes.conf')
      return server
    }),
  )
  const servers = started.filter((s) => s.status === 'fulfilled').map((s) => s.value)
  const stop = async () => {
    await Promise.all(servers.map((s) => s.stop()))
  }
  try {
    const failed = started.find((s) => s.status === 'rejected')
    if (failed) throw failed.reason
    const ids = await Promise.all(servers.map((s) => valkeyCommand(s.url, 'CLUSTER', 'MYID')))
    servers.forEach((s, i) => (s.id = ids[i]))
    // Distinct config epochs up front (as valkey-cli --cluster create does): no epoch collisions to resolve.
    await Promise.all(servers.map((s, i) => valkeyCommand(s.url, 'CLUSTER', 'SET-CONFIG-EPOCH', i + 1)))
    const [first, ...rest] = servers
    for (const s of rest) await valkeyCommand(first.url, 'CLUSTER', 'MEET', s.host, s.port, s.busPort)
    const masters = servers.slice(0, primaries)
    await Promise.all(
      masters.map((s, i) => {
        const from = Math.floor((i * SLOTS) / primaries)
        const to = Math.floor(((i + 1) * SLOTS) / primaries) - 1
        s.slots = [from, to]
        return valkeyCommand(s.url, 'CLUSTER', 'ADDSLOTSRANGE', from, to)
      }),
    )
    const everyoneKnowsEveryone = async () => {
      for (const s of servers) {
        const known = clusterNodes(await valkeyCommand(s.url, 'CLUSTER', 'NODES'))
        const settled = known.filter((n) => !n.flags.includes('handshake') && !n.flags.includes('noaddr'))
        if (settled.length !== total) return false
      }
      return true
    }
    await waitFor(`all ${total} nodes to know each other`, timeoutMs, everyoneKnowsEveryone)
    const replicaServers = servers.slice(primaries)
    await Promise.all(
      replicaServers.map((s, i) => {
        s.replicaOf = masters[i % primaries]
        return valkeyCommand(s.url, 'CLUSTER', 'REPLICATE', s.replicaOf.id)
      }),
    )
    await waitFor('cluster_state:ok on every node', timeoutMs, async () => {
      for (const s of servers) {
        const i = info(await valkeyCommand(s.url, 'CLUSTER', 'INFO'))
        if (i.cluster_state !== 'ok' || Number(i.cluster_slots_assigned) !== SLOTS) return false
        if (Number(i.cluster_known_nodes) !== total) return false
      }
      for (const s of replicaServers) {
        if (info(await valkeyCommand(s.url, 'INFO', 'replication')).master_link_status !== 'up') return false
      }
      return everyoneKnowsEveryone()
    })
  } catch (e) {
    await stop()
    throw e
  }
  return {
    nodes: servers.slice(0, primaries).map((s) => s.url),
    replicaNodes: servers.slice(primaries).map((s) => s.url),
    servers,
    stop,
  }
}
