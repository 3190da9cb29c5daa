import { CacheError } from './core/errors'

/** Next.js cache handler. Not available yet: constructing it throws `E_NOT_IMPLEMENTED`. */
export default class CacheHandler {
  constructor() {
    throw new CacheError('E_NOT_IMPLEMENTED', 'ferrocache/next is not available in this version yet')
  }
}
