/**
 * The getOrSet lease: a lock per key (SET NX PX with a random token, renewed by its owner,
 * released by its owner only; the lock's name, in the key's cluster slot, is `lockKeyOf` in
 * `tags.ts`), and the one-shot wake-up a waiter arms
 * before checking.
 */
export const RELEASE =
  "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end"
export const RENEW =
  "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end"

export interface Lease {
  lockKey: Buffer
  token: string
}

/** A one-shot wake-up for one key, armed before checking so no message is missed. */
export class Waiter {
  fired = false
  private wake?: () => void
  fire(): void {
    this.fired = true
    this.wake?.()
  }
  wait(ms: number): Promise<void> {
    if (this.fired || ms <= 0) return Promise.resolve()
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms)
      this.wake = () => {
        clearTimeout(timer)
        resolve()
      }
    })
  }
}
