/**
 * Lua scripts on the cache's Valkey, run by SHA so the script text crosses the network once per
 * server (the rate limiter's counters, the session store's atomic replace).
 */
import { createHash } from 'node:crypto'
import type { Cache } from '../cache/cache'
import { CacheError } from '../core/errors'

/**
 * @internal Runs a Lua script by EVALSHA, loading it with EVAL on `E_NO_SCRIPT` (the server's
 * NOSCRIPT: first use, server restart, SCRIPT FLUSH). `keys[0]` routes the command.
 */
export async function runScript(
  cache: Cache,
  script: string,
  keys: string[],
  args: string[],
): Promise<unknown> {
  const sha = shaOf(script)
  const tail = [String(keys.length), ...keys, ...args]
  try {
    return await cache._command(keys[0], ['EVALSHA', sha, ...tail])
  } catch (e) {
    if (!(e instanceof CacheError && e.code === 'E_NO_SCRIPT')) throw e
    return cache._command(keys[0], ['EVAL', script, ...tail])
  }
}
const shas = new Map<string, string>()
function shaOf(script: string): string {
  let sha = shas.get(script)
  if (sha === undefined) shas.set(script, (sha = createHash('sha1').update(script).digest('hex')))
  return sha
}
