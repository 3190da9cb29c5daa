/** The Valkey Cluster of the run. CI always starts one: without it, cluster tests fail, never skip. */
import { inject } from 'vitest'

export function clusterNodes(): string[] {
  const nodes = inject('clusterNodes')
  if (!Array.isArray(nodes) || nodes.length === 0) {
    throw new Error(
      'no Valkey Cluster for the cluster tests: run without FERROCACHE_CLUSTER=0 (the global setup starts one) ' +
        'or set VALKEY_CLUSTER_NODES',
    )
  }
  return nodes
}
