/**
 * Server-side sessions stored in the cache (under its `session:` namespace), values through the
 * cache's codec so Dates, Maps and BigInts survive. Ids are 256 random bits, base64url; an id is
 * never written into an error message.
 */
import { randomBytes } from 'node:crypto'
import type { Cache } from '../cache/cache'
import {
  CacheError,
  InvalidKeyError,
  InvalidOptionError,
  InvalidValueError,
  cacheError,
} from '../core/errors'
import { ttlToMs } from '../core/options'
import { runScript } from './scripts'

/** Options of `new SessionStore()`. */
export interface SessionStoreOptions {
  /** Lifetime of a session without activity, in seconds. `set` and `touch` renew it. */
  ttl: number
  /** With `true`, `get` renews the lifetime too (idle timeout). Default `false`. */
  sliding?: boolean
}

const ID_BYTES = 32
const ID_RE = /^[A-Za-z0-9_-]{43}$/
// Update-only write: the new value was written to a temporary key; it replaces the session only if
// the session still exists, so a write racing with `destroy` never brings a session back.
const REPLACE = `if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('RENAME', KEYS[2], KEYS[1]) return 1 end
redis.call('DEL', KEYS[2])
return 0`

/** Per-id operation chains of memory-only caches, so read-then-write steps never interleave. */
const chains = new WeakMap<object, Map<string, Promise<unknown>>>()

/**
 * Sessions in the cache: `create` returns a fresh unguessable id; `get` of a missing, expired or
 * destroyed id resolves `undefined`; a malformed id rejects with `E_INVALID_KEY`.
 *
 * Keys are `<prefix>session:{<id>}` (the braces keep a session and its temporary write key in one
 * cluster slot). In Valkey, `touch` and sliding `get` are a PEXPIRE (no rewrite); `set` only updates
 * a session that still exists.
 *
 * @example
 * ```ts
 * import { Cache, SessionStore } from 'ferrocache'
 * const sessions = new SessionStore<{ userId: string; since: Date }>(cache, { ttl: 3600, sliding: true })
 * const id = await sessions.create({ userId: 'u1', since: new Date() })
 * const s = await sessions.get(id) // { userId: 'u1', since: Date } | undefined
 * ```
 */
export class SessionStore<T = unknown> {
  private readonly ns: Cache
  private readonly ttlMs: number
  private readonly sliding: boolean
  private readonly memoryOnly: boolean

  /**
   * Validates the options (`E_INVALID_OPTION`).
   *
   * @example
   * ```ts
   * const sessions = new SessionStore(cache, { ttl: 30 * 60, sliding: true })
   * ```
   */
  constructor(cache: Cache, options: SessionStoreOptions) {
    if (!cache || typeof (cache as Partial<Cache>).namespace !== 'function') {
      throw new InvalidOptionError('new SessionStore(cache, options): cache must be a ferrocache Cache')
    }
    const o = (options ?? {}) as Partial<SessionStoreOptions>
    for (const k of Object.keys(o)) {
      if (k !== 'ttl' && k !== 'sliding')
        throw new InvalidOptionError(`option \`${k}\` is not a SessionStore option`)
    }
    if (o.ttl === undefined) throw new InvalidOptionError('option `ttl` (seconds) is required')
    this.ttlMs = ttlToMs('ttl', o.ttl)
    if (o.sliding !== undefined && typeof o.sliding !== 'boolean') {
      throw new InvalidOptionError('option `sliding` must be a boolean')
    }
    this.sliding = o.sliding ?? false
    this.ns = cache.namespace('session')
    this.memoryOnly = cache._mode === 'memory'
  }

  /**
   * Stores `data` as a new session and resolves its id (43 base64url characters, 256 random bits).
   *
   * @example
   * ```ts
   * const id = await sessions.create({ userId: user.id })
   * cookies().set('sid', id, { httpOnly: true, secure: true, sameSite: 'lax' })
   * ```
   */
  async create(data: T): Promise<string> {
    const id = randomBytes(ID_BYTES).toString('base64url')
    await this.guard(id, () => this.ns.set(slot(id), data, { ttl: this.ttlMs / 1000 }))
    return id
  }

  /**
   * The session's data, or `undefined` when it is missing, expired or destroyed. With `sliding: true`
   * it also renews the lifetime.
   *
   * @example
   * ```ts
   * const session = await sessions.get(cookies().get('sid')?.value ?? '')
   * ```
   */
  get(id: string): Promise<T | undefined> {
    return this.guard(id, async () => {
      if (!this.sliding) return this.ns.get<T>(slot(id))
      if (this.memoryOnly) {
        return this.serial(id, async () => {
          const v = await this.ns.get<T>(slot(id))
          if (v !== undefined) await this.ns.set(slot(id), v, { ttl: this.ttlMs / 1000 })
          return v
        })
      }
      // One round trip: the read and the renewal share the pipeline.
      const [v] = await Promise.all([this.ns.get<T>(slot(id)), this.expire(id).catch(() => false)])
      return v
    })
  }

  /**
   * Replaces the data of an existing session and renews its lifetime. Resolves `false` (writing
   * nothing) when the session is missing, expired or destroyed — so a write racing with `destroy`
   * never brings a session back.
   *
   * @example
   * ```ts
   * await sessions.set(id, { ...session, cart: [...session.cart, item] })
   * ```
   */
  set(id: string, data: T): Promise<boolean> {
    return this.guard(id, async () => {
      // Checked first, so both modes agree whether or not the session exists.
      if (data === undefined)
        throw new InvalidValueError('session data cannot be undefined; store null instead')
      const ttl = this.ttlMs / 1000
      if (this.memoryOnly) {
        return this.serial(id, async () => {
          if (!(await this.ns.has(slot(id)))) return false
          await this.ns.set(slot(id), data, { ttl })
          return true
        })
      }
      const temp = `${slot(id)}:w:${randomBytes(9).toString('base64url')}`
      await this.ns.set(temp, data, { ttl })
      const replaced = await runScript(this.ns, REPLACE, [this.full(id), this.ns.prefix + temp], [])
      return replaced === 1
    })
  }

  /**
   * Renews the lifetime to the full `ttl`; resolves `false` when the session does not exist.
   *
   * @example
   * ```ts
   * if (!(await sessions.touch(id))) redirect('/login')
   * ```
   */
  touch(id: string): Promise<boolean> {
    return this.guard(id, async () => {
      if (!this.memoryOnly) return this.expire(id)
      return this.serial(id, async () => {
        const v = await this.ns.get(slot(id))
        if (v === undefined) return false
        await this.ns.set(slot(id), v, { ttl: this.ttlMs / 1000 })
        return true
      })
    })
  }

  /**
   * Deletes the session; resolves whether it existed.
   *
   * @example
   * ```ts
   * await sessions.destroy(id) // log out
   * ```
   */
  destroy(id: string): Promise<boolean> {
    return this.guard(id, () =>
      this.memoryOnly ? this.serial(id, () => this.ns.delete(slot(id))) : this.ns.delete(slot(id)),
    )
  }

  private full(id: string): string {
    return this.ns.prefix + slot(id)
  }

  private async expire(id: string): Promise<boolean> {
    const key = this.full(id)
    return (await this.ns._command(key, ['PEXPIRE', key, String(this.ttlMs)])) === 1
  }

  /** Validates the id, runs `op`, and keeps the id out of any error that comes back. */
  private async guard<R>(id: string, op: () => Promise<R>): Promise<R> {
    if (typeof id !== 'string' || !ID_RE.test(id)) {
      throw new InvalidKeyError('malformed session id: expected 43 base64url characters')
    }
    try {
      return await op()
    } catch (e) {
      if (e instanceof CacheError && e.message.includes(id)) {
        throw cacheError(e.code, e.message.split(id).join('<session id>'))
      }
      throw e
    }
  }

  /** Runs `op` after the previous operation on this id in this process (memory-only mode). */
  private serial<R>(id: string, op: () => Promise<R>): Promise<R> {
    const owner = this.ns._options as object
    let m = chains.get(owner)
    if (m === undefined) chains.set(owner, (m = new Map()))
    const key = this.full(id)
    const prev = m.get(key) ?? Promise.resolve()
    const run = prev.then(op, op)
    const tail = run.then(
      () => {},
      () => {},
    )
    m.set(key, tail)
    void tail.then(() => {
      if (m.get(key) === tail) m.delete(key)
    })
    return run
  }
}

/** The key of a session below the namespace: the braces make the id the cluster hash tag. */
function slot(id: string): string {
  return `{${id}}`
}
