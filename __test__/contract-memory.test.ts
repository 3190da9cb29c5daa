import { contractSuite } from './contract'
import { trustSuite } from './contract-trust'

contractSuite('memory', () => ({}))
import { getOrSetSuite } from './get-or-set'

getOrSetSuite('memory', () => ({}))
import { tagSuite } from './tags'

tagSuite('memory', () => ({}))
trustSuite('memory', () => ({}))
