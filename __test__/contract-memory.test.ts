import { contractSuite } from './contract'

contractSuite('memory', () => ({}))
import { getOrSetSuite } from './get-or-set'

getOrSetSuite('memory', () => ({}))
import { tagSuite } from './tags'

tagSuite('memory', () => ({}))
