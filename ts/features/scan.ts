/** `Cache.keys()`: the keys under a prefix, page by page over SCAN (bounded memory). */
import { escapeGlob } from '../boundary/binding'
import { ClosedError, InvalidKeyError, fromNative } from '../core/errors'
import type { Transport } from '../boundary/transport'

/**
 * Yields the keys under `prefix` that match `pattern` (prefix stripped), one SCAN page at a time,
 * on every primary of a cluster. Internal keys (tag markers, locks: they hold a NUL byte) are
 * left out. Like SCAN, a key written or deleted meanwhile may or may not be seen, and a key may
 * be yielded twice while a cluster reshards.
 */
export async function* scanKeys(transport: Transport, prefix: string, pattern = '*'): AsyncGenerator<string> {
  if (typeof pattern !== 'string' || pattern === '') {
    throw new InvalidKeyError('keys(pattern) takes a non-empty glob pattern, e.g. "user:*", or none for all')
  }
  const full = escapeGlob(prefix) + pattern
  let node = 0
  let cursor = '0'
  for (;;) {
    if (transport.closed) throw new ClosedError()
    let page
    try {
      page = await transport.engine.scanKeys(node, cursor, full)
    } catch (e) {
      throw fromNative(e)
    }
    for (const key of page.keys) {
      if (key.startsWith(prefix) && !key.includes('\u0000')) yield key.slice(prefix.length)
    }
    if (page.done) return
    ;({ node, cursor } = page)
  }
}
