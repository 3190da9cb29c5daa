/**
 * A steady mixed workload against one cache, every call tracked: writes carry `key=seq` values,
 * so a read can be checked to be either a miss or a value written to that very key.
 */
import { expect } from 'vitest'
import type { Cache } from '../../ts/index'
import { Calls, sleep } from './track'

export interface Workload {
  calls: Calls
  /** Stops issuing calls and waits (bounded) for every one issued to settle. */
  stop(boundMs: number): Promise<void>
}

const KEYS = ['a', 'b', 'c', 'd', 'e', 'f']

function checkRead(key: string, v: unknown): void {
  if (v === undefined) return
  expect(typeof v === 'string' && v.startsWith(`${key}=`), `read ${JSON.stringify(v)} for ${key}`).toBe(true)
}

/** Issues a round of calls every `everyMs` until stopped. */
export function runWorkload(cache: Cache, everyMs = 20): Workload {
  const calls = new Calls()
  let seq = 0
  let running = true
  const round = (): void => {
    const k = KEYS[seq % KEYS.length]
    const n = ++seq
    void calls.track('set', () => cache.set(k, `${k}=${n}`, { ttl: 30 }))
    void calls.track('set+tags', () => cache.set(`t${k}`, `t${k}=${n}`, { ttl: 30, tags: ['tg'] }))
    void calls.track('get', () => cache.get(k).then((v) => checkRead(k, v)))
    void calls.track('get tagged', () => cache.get(`t${k}`).then((v) => checkRead(`t${k}`, v)))
    void calls.track('getMany', () =>
      cache.getMany(KEYS).then((vs) => vs.forEach((v, i) => checkRead(KEYS[i], v))),
    )
    void calls.track('getOrSet', () =>
      cache.getOrSet(`g${k}`, () => `g${k}=${n}`, { ttl: 30 }).then((v) => checkRead(`g${k}`, v)),
    )
    void calls.track('has', () => cache.has(k))
    void calls.track('delete', () => cache.delete(`x${k}`))
    void calls.track('setMany', () => cache.setMany([{ key: `m${k}`, value: `m${k}=${n}`, ttl: 30 }]))
    if (n % 10 === 0) {
      void calls.track('invalidateTags', () => cache.invalidateTags(['tg']))
      void calls.track('deleteMatching', () => cache.deleteMatching('x*'))
      void calls.track('health', () => cache.health().then((h) => expect(typeof h.ok).toBe('boolean')))
    }
  }
  const loop = (async () => {
    while (running) {
      round()
      await sleep(everyMs)
    }
  })()
  return {
    calls,
    async stop(boundMs: number) {
      running = false
      await loop
      await calls.settled(boundMs)
    },
  }
}
