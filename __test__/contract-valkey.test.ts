import { inject } from 'vitest'
import { contractSuite } from './contract'
import { trustSuite } from './contract-trust'

contractSuite('valkey', () => ({ url: inject('valkeyUrl') }))
import { getOrSetSuite } from './get-or-set'

getOrSetSuite('valkey', () => ({ url: inject('valkeyUrl') }))
import { tagSuite } from './tags'

tagSuite('valkey', () => ({ url: inject('valkeyUrl') }))
trustSuite('valkey', () => ({ url: inject('valkeyUrl') }))
