import { expect, it } from 'vitest'
import { clusterNodes } from './cluster-nodes'
import { contractSuite } from './contract'
import { trustSuite } from './contract-trust'
import { getOrSetSuite } from './get-or-set'
import { tagSuite } from './tags'

it('has a Valkey Cluster to run against', () => {
  expect(clusterNodes().length).toBeGreaterThanOrEqual(3)
})

contractSuite('cluster', () => ({ nodes: clusterNodes() }))
getOrSetSuite('cluster', () => ({ nodes: clusterNodes() }))
tagSuite('cluster', () => ({ nodes: clusterNodes() }))
trustSuite('cluster', () => ({ nodes: clusterNodes() }))
