// All adapters, in report order. Each adapter is
// { name, kind: 'peer' | 'subject', keyPrefix, setup(url), set(key, obj), get(key),
//   getMany(keys), setMany([{ key, value }]), close() }.
import { makeFerrocache } from './ferrocache.mjs'
import { makeGlide } from './glide.mjs'
import { makeIoredis } from './ioredis.mjs'
import { makeNodeRedis } from './node-redis.mjs'

export function makeClients() {
  return [
    makeIoredis(),
    makeIoredis({ autoPipelining: true }),
    makeNodeRedis(),
    makeGlide(),
    makeFerrocache(),
  ]
}
