/** Loader plumbing for `getOrSet`: the context object and a loader call that cannot hang or throw. */
import { TimeoutError } from '../core/errors'
import { ttlToMs } from '../core/options'

/** What a loader receives. */
export interface LoaderContext {
  /** Overrides the entry's ttl (seconds; `Infinity`: no expiry) for this load, e.g. from an upstream Cache-Control. */
  setTtl(seconds: number): void
  /** Sets the entry's tags for this load (replacing the `tags` option), e.g. from the loaded data. */
  setTags(tags: string[]): void
  /** The previous (expired) value, when one is still within grace. */
  readonly stale?: unknown
}

export class Context implements LoaderContext {
  constructor(
    public ttlMs: number,
    readonly stale: unknown,
    public markers: Buffer[] | undefined,
    private readonly toMarkers: (tags: unknown) => Buffer[],
  ) {}
  setTtl(seconds: number): void {
    this.ttlMs = ttlToMs('setTtl(seconds)', seconds, true)
  }
  setTags(tags: string[]): void {
    this.markers = this.toMarkers(tags)
  }
}

function isThenable(v: unknown): v is PromiseLike<unknown> {
  return (
    (typeof v === 'object' || typeof v === 'function') &&
    v !== null &&
    typeof (v as PromiseLike<unknown>).then === 'function'
  )
}

/**
 * Calls a loader and always returns a Promise: a synchronous throw becomes a rejection, a plain
 * value a resolved Promise, and a loader that never settles rejects after `hardTimeoutMs` (the
 * timer does not keep the process alive).
 */
export function callLoader(
  loader: (ctx: LoaderContext) => unknown,
  ctx: Context,
  hardTimeoutMs: number,
): Promise<unknown> {
  let result: unknown
  try {
    result = loader(ctx)
  } catch (e) {
    return Promise.reject(e)
  }
  if (!isThenable(result)) return Promise.resolve(result)
  return within(Promise.resolve(result), hardTimeoutMs, false).then((v) => {
    if (v === TIMED_OUT)
      throw new TimeoutError(`the loader did not settle within ${hardTimeoutMs} ms (hardTimeoutMs)`)
    return v
  })
}

/** What `within()` resolves to when the time ran out. */
export const TIMED_OUT: unique symbol = Symbol('timed out')

/**
 * @internal Resolves the promise's value, or `TIMED_OUT` after `ms` (whichever comes first). With
 * `keepAlive` false the timer does not keep the process alive.
 */
export function within<T>(p: Promise<T>, ms: number, keepAlive = true): Promise<T | typeof TIMED_OUT> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => resolve(TIMED_OUT), ms)
    if (!keepAlive) timer.unref()
    p.then(
      (v) => {
        clearTimeout(timer)
        resolve(v)
      },
      (e) => {
        clearTimeout(timer)
        reject(e)
      },
    )
  })
}
