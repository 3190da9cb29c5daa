import { inject } from 'vitest'
import { contractSuite } from './contract'

contractSuite('valkey', () => ({ url: inject('valkeyUrl') }))
