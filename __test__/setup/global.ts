/**
 * vitest globalSetup: one real Valkey (and, unless FERROCACHE_CLUSTER=0, a 3-primary Valkey Cluster)
 * for the whole run, shared by all test files through `inject('valkeyUrl')` / `inject('clusterNodes')`.
 *
 * - VALKEY_URL=redis://… uses that server instead of starting one.
 * - VALKEY_CLUSTER_NODES=redis://h:p,redis://h:p uses that cluster instead of starting one.
 * - FERROCACHE_CLUSTER=0 starts no cluster; `clusterNodes` is then [] and the cluster tests fail
 *   (they never skip: CI always runs them).
 */
import type { TestProject } from 'vitest/node'
import { startCluster, startValkey, waitForPing } from '../../scripts/valkey.mjs'

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const stops: (() => Promise<void>)[] = []
  const teardown = async (): Promise<void> => {
    await Promise.allSettled(stops.map((stop) => stop()))
  }
  const t0 = Date.now()

  const standalone = (async (): Promise<string> => {
    const external = process.env.VALKEY_URL
    if (external) {
      if (external.startsWith('redis://') && !(await waitForPing(external, { timeoutMs: 5000 }))) {
        throw new Error(`VALKEY_URL=${external} does not answer PING`)
      }
      return external
    }
    const server = await startValkey()
    stops.push(() => server.stop())
    return server.url
  })()

  const cluster = (async (): Promise<string[]> => {
    if (process.env.FERROCACHE_CLUSTER === '0') return []
    const external = process.env.VALKEY_CLUSTER_NODES
    if (external)
      return external
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean)
    const c = await startCluster({ primaries: 3 })
    stops.push(() => c.stop())
    return c.nodes
  })()

  const [url, nodes] = await Promise.allSettled([standalone, cluster])
  if (url.status === 'rejected' || nodes.status === 'rejected') {
    await teardown()
    throw url.status === 'rejected' ? url.reason : (nodes as PromiseRejectedResult).reason
  }
  project.provide('valkeyUrl', url.value)
  project.provide('clusterNodes', nodes.value)
  const where = nodes.value.length ? `, cluster ${nodes.value.join(' ')}` : ''
  console.log(`[valkey] ${url.value}${where} (ready in ${Date.now() - t0} ms)`)
  return teardown
}
