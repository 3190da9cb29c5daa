/** The getOrSet lease lock lives in the same cluster slot as its key (so a cluster keeps them in order). */
import { describe, expect, inject, it } from 'vitest'
import { lockKeyOf } from '../ts/features/single-flight'
import { valkeyCommand } from '../scripts/valkey.mjs'

describe('lock keys', () => {
  it('share the slot of their key, with or without a hash tag', async () => {
    const node = inject('clusterNodes')[0]
    expect(node).toBeTruthy()
    for (const key of ['fc:user:1', 'fc:session:{abc}:data', 'app:ünïcode:✓', 'x']) {
      const lock = lockKeyOf(key)
      expect(lock).not.toBe(key)
      expect(await valkeyCommand(node, 'CLUSTER', 'KEYSLOT', lock)).toBe(
        await valkeyCommand(node, 'CLUSTER', 'KEYSLOT', key),
      )
    }
  })
})
