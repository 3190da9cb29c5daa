/**
 * The waiters of getOrSet leases, per key, and the bus subscription that wakes them: a waiter is
 * armed before checking, fired when the key is announced (or the bus resubscribes), disarmed after.
 */
import { Waiter } from './lease'

export class WakeUps {
  private readonly waiters = new Map<string, Set<Waiter>>()
  private bus?: Promise<void>
  /** The bus was subscribed at least once (it may have been started by the L1 tier). */
  private busUp = false
  private busSubscribed?: () => void

  constructor(
    /** Subscribes the engine to the bus channel (may throw). */
    private readonly subscribe: () => void,
    private readonly opts: { connectTimeoutMs: number },
  ) {}

  arm(key: string): Waiter {
    const w = new Waiter()
    let set = this.waiters.get(key)
    if (set === undefined) this.waiters.set(key, (set = new Set()))
    set.add(w)
    return w
  }

  disarm(key: string, w: Waiter): void {
    const set = this.waiters.get(key)
    if (set === undefined) return
    set.delete(w)
    if (set.size === 0) this.waiters.delete(key)
  }

  /** Subscribes once; waits (bounded) for the subscription so no wake-up is missed. */
  ensureBus(): Promise<void> {
    if (this.bus === undefined && this.busUp) this.bus = Promise.resolve()
    if (this.bus === undefined) {
      this.bus = new Promise<void>((resolve) => {
        // Ref'd on purpose: a caller awaiting getOrSet must keep the process alive (bounded).
        const timer = setTimeout(resolve, this.opts.connectTimeoutMs)
        this.busSubscribed = () => {
          clearTimeout(timer)
          resolve()
        }
        try {
          this.subscribe()
        } catch {
          resolve()
        }
      })
    }
    return this.bus
  }

  /** Keys written somewhere: their waiters re-check. */
  wake(keys: readonly string[]): void {
    for (const k of keys) {
      const set = this.waiters.get(k)
      if (set !== undefined) for (const w of set) w.fire()
    }
  }

  /** The server refuses the subscription: stop waiting for it (waiters then wait for the lease to end). */
  busRefused(): void {
    this.busUp = true
    this.busSubscribed?.()
  }

  /** The bus (re)subscribed: anything may have been missed, so every waiter re-checks. */
  subscribed(): void {
    this.busUp = true
    this.busSubscribed?.()
    for (const set of this.waiters.values()) for (const w of set) w.fire()
  }
}
