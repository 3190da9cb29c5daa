/**
 * The hot path between JS and the native engine. Requests issued in one tick are written into
 * one binary frame and submitted once (one pipeline, one round trip). Results come back in small
 * chunks: the engine wakes JS once per burst, handing it the first chunk, and each chunk of
 * DRAIN_CHUNK results is followed by the next one after the continuations of the first have run —
 * so JS decodes while tokio and Valkey work on the rest. A time budget per event-loop turn stops a busy stream of results from
 * starving timers and other I/O.
 */
import { OP_DELETE, OP_EXISTS, OP_GET } from './binding'
import { DOWN, MISS, Stale } from './completion'
import type { SetFields } from './frame'
import { ClosedError } from '../core/errors'
import {
  KIND_COMMAND,
  KIND_ENTRY,
  KIND_FLAG,
  KIND_MANY,
  KIND_PROBE,
  KIND_VALUE,
  KIND_VOID,
  TransportCore,
  type Settle,
  UNCOUNTED,
} from './transport-core'

export { DOWN, MISS, Stale }
export { REQUEST_KINDS, type TransportObserver } from './transport-core'

/** One write of `setMany`. */
export interface SetRequest extends SetFields {
  key: string
}

/** The request methods of the hot path; the machinery they write into is `TransportCore`. */
export class Transport extends TransportCore {
  get(key: string): Promise<unknown> {
    if (this.closed) return Promise.reject(new ClosedError())
    return this.request(OP_GET, key, KIND_VALUE)
  }

  /** Writes a value (see `SetFields`); resolves when Valkey has stored it. */
  set(key: string, w: SetFields): Promise<unknown> {
    if (this.closed) return Promise.reject(new ClosedError())
    const id = this.begin(key, KIND_VOID)
    const failed = this.guard(id, () => this.frame.set(id, key, w))
    if (failed !== undefined) return Promise.reject(failed)
    return new Promise((resolve, reject) => {
      this.resolves[id] = resolve
      this.rejects[id] = reject
    })
  }

  /** Many writes, one Promise (no Promise per entry); rejects with the first failure. */
  setMany(entries: readonly SetRequest[]): Promise<void> {
    if (this.closed) return Promise.reject(new ClosedError())
    return new Promise((resolve, reject) => {
      let left = entries.length
      if (left === 0) return resolve()
      const done = (): void => {
        if (--left === 0) resolve()
      }
      for (const e of entries) {
        const id = this.begin(e.key, KIND_VOID)
        const failed = this.guard(id, () => this.frame.set(id, e.key, e))
        if (failed !== undefined) {
          reject(failed) // this entry alone was not written; the others go ahead
          done()
          continue
        }
        this.resolves[id] = done
        this.rejects[id] = reject
      }
    })
  }

  /**
   * Many reads, one request and one completion (decoded here in one pass): values go to
   * `out[slots[i]]` (`undefined` for misses); resolves `out`.
   */
  getMany(keys: readonly string[], out: unknown[], slots: readonly number[]): Promise<unknown[]> {
    if (this.closed) return Promise.reject(new ClosedError())
    if (keys.length === 0) return Promise.resolve(out)
    const id = this.begin('', KIND_MANY)
    const failed = this.guard(id, () => this.frame.getMany(id, keys))
    if (failed !== undefined) return Promise.reject(failed)
    this.many[id] = { keys, out, slots, epoch: this.l1 === undefined ? 0 : this.l1.epoch }
    return new Promise((resolve, reject) => {
      this.resolves[id] = resolve as Settle
      this.rejects[id] = reject
    })
  }

  /**
   * Reads an entry for `getOrSet`: resolves the value when fresh, a `Stale` wrapper when past its
   * fresh time (within grace), or `MISS`.
   */
  getEntry(key: string, counted = true): Promise<unknown> {
    if (this.closed) return Promise.reject(new ClosedError())
    return this.request(OP_GET, key, counted ? KIND_ENTRY : KIND_ENTRY | UNCOUNTED)
  }

  /** Whether `get(key)` would find a value (same read and checks), without counting a hit or miss. */
  probe(key: string): Promise<boolean> {
    if (this.closed) return Promise.reject(new ClosedError())
    return this.request(OP_GET, key, KIND_PROBE | UNCOUNTED) as Promise<boolean>
  }

  /**
   * `getEntry` with callbacks instead of a Promise: the caller settles its own Promise in the
   * callback, so a hit reaches the awaiting code without an extra microtask hop. Callbacks must
   * not throw.
   */
  getEntryThen(
    key: string,
    onEntry: (entry: unknown) => void,
    onError: (e: unknown) => void,
    counted = true,
  ): void {
    if (this.closed) return onError(new ClosedError())
    let id: number
    try {
      id = this.write(OP_GET, key, counted ? KIND_ENTRY : KIND_ENTRY | UNCOUNTED)
    } catch (e) {
      return onError(e)
    }
    this.resolves[id] = onEntry
    this.rejects[id] = onError
  }

  /**
   * Runs one raw command in the next pipeline. Resolves a number (integer reply), a Buffer (bulk),
   * a string (status), a JSON-decoded array, or `null` (nil). `routeKey` names the key the command
   * touches (for cluster routing); it may be empty.
   */
  command(routeKey: string | Buffer, args: (string | Buffer)[]): Promise<unknown> {
    if (this.closed) return Promise.reject(new ClosedError())
    const id = this.begin(routeKey, KIND_COMMAND)
    const failed = this.guard(id, () => this.frame.command(id, routeKey, args))
    if (failed !== undefined) return Promise.reject(failed)
    return new Promise((resolve, reject) => {
      this.resolves[id] = resolve
      this.rejects[id] = reject
    })
  }

  delete(key: string): Promise<unknown> {
    if (this.closed) return Promise.reject(new ClosedError())
    return this.request(OP_DELETE, key, KIND_FLAG)
  }

  exists(key: string): Promise<unknown> {
    if (this.closed) return Promise.reject(new ClosedError())
    return this.request(OP_EXISTS, key, KIND_FLAG)
  }

  /** Number of requests waiting for a result. */
  get pending(): number {
    return this.inflight
  }
}
