import { contractSuite } from './contract'

contractSuite('memory', () => ({}))
