/**
 * Invariants every fault test checks: each call is tracked until it settles, every rejection is a
 * CacheError with a code, no rejection goes unhandled, and calls settle within a bound.
 */
import { afterAll, beforeAll, expect } from 'vitest'
import { CacheError, type Cache } from '../../ts/index'
import { startValkey, type ValkeyServer } from '../../scripts/valkey.mjs'

export interface Outcome {
  name: string
  ms: number
  value?: unknown
  error?: unknown
}

/** Records every call it is handed; `settled()` waits (bounded) for all of them. */
export class Calls {
  readonly outcomes: Outcome[] = []
  private pending = new Set<Promise<unknown>>()

  /** Tracks a call. Never throws (a synchronous throw is recorded as a failure of the contract). */
  track<T>(name: string, call: () => Promise<T>): Promise<Outcome> {
    const started = performance.now()
    let p: Promise<T>
    try {
      p = call()
    } catch (e) {
      const o = { name, ms: 0, error: new Error(`threw synchronously instead of rejecting: ${String(e)}`) }
      this.outcomes.push(o)
      return Promise.resolve(o)
    }
    const done = p.then(
      (value) => ({ name, ms: performance.now() - started, value }),
      (error: unknown) => ({ name, ms: performance.now() - started, error }),
    )
    const tracked = done.then((o) => {
      this.outcomes.push(o)
      this.pending.delete(tracked)
      return o
    })
    this.pending.add(tracked)
    return tracked
  }

  /** Resolves once every tracked call settled; fails naming the calls still pending after `boundMs`. */
  async settled(boundMs: number): Promise<void> {
    const all = Promise.all([...this.pending])
    let timer: NodeJS.Timeout | undefined
    const late = new Promise<'late'>((r) => (timer = setTimeout(() => r('late'), boundMs)))
    const r = await Promise.race([all, late])
    clearTimeout(timer)
    expect(r === 'late' ? `${this.pending.size} calls never settled` : 'all settled').toBe('all settled')
  }

  get errors(): Outcome[] {
    return this.outcomes.filter((o) => 'error' in o)
  }

  /** Every rejection is a CacheError with an E_* code (no raw TypeError, no synchronous throw). */
  expectTypedErrors(allowed?: string[]): void {
    for (const o of this.errors) {
      const e = o.error
      const what = `${o.name}: ${e instanceof Error ? `${e.name} ${e.message}` : String(e)}`
      expect(e instanceof CacheError ? 'CacheError' : what).toBe('CacheError')
      const code = (e as CacheError).code
      expect(code, what).toMatch(/^E_[A-Z_]+$/)
      if (allowed) expect(allowed, what).toContain(code)
    }
  }

  maxMs(): number {
    return Math.max(0, ...this.outcomes.map((o) => o.ms))
  }

  /** `name max-ms` per call name, slowest first (for the log). */
  slowest(): string {
    const by = new Map<string, number>()
    for (const o of this.outcomes) by.set(o.name, Math.max(by.get(o.name) ?? 0, o.ms))
    return [...by]
      .sort((a, b) => b[1] - a[1])
      .map(([n, ms]) => `${n} ${Math.round(ms)}`)
      .join(', ')
  }
}

/** Fails the file if any promise rejection went unhandled or an exception went uncaught. */
export function noUnhandled(): unknown[] {
  const seen: unknown[] = []
  const onRejection = (e: unknown) => seen.push(e)
  beforeAll(() => {
    process.on('unhandledRejection', onRejection)
    process.on('uncaughtException', onRejection)
  })
  afterAll(() => {
    process.off('unhandledRejection', onRejection)
    process.off('uncaughtException', onRejection)
    expect(seen.map(String)).toEqual([])
  })
  return seen
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** Retries `attempt` until it resolves true (bounded); returns the ms it took. */
export async function until(attempt: () => Promise<boolean>, boundMs = 15_000): Promise<number> {
  const started = Date.now()
  for (;;) {
    if (await attempt().catch(() => false)) return Date.now() - started
    if (Date.now() - started > boundMs) throw new Error(`did not recover within ${boundMs} ms`)
    await sleep(20)
  }
}

/** Waits (bounded) until `cache` serves `key` from its L1: the entry is in process and the bus is up. */
export function servedFromL1(cache: Cache, key: string): Promise<number> {
  return until(async () => {
    const before = cache.stats().l1Hits
    await cache.get(key)
    return cache.stats().l1Hits > before
  })
}

/**
 * A Valkey of the test file's own (for tests that kill its clients or stall it: on the shared one
 * they would hit other files' connections), started before its tests and stopped after them,
 * with `open`: the caches to close first.
 */
export function ownValkey(): { readonly server: ValkeyServer; open: Cache[] } {
  let server: ValkeyServer | undefined
  const open: Cache[] = []
  beforeAll(async () => {
    server = await startValkey()
  })
  afterAll(async () => {
    await Promise.all(open.map((c) => c.close()))
    await server?.stop()
  })
  return {
    get server() {
      if (server === undefined) throw new Error('ownValkey: the server starts in beforeAll')
      return server
    },
    open,
  }
}
