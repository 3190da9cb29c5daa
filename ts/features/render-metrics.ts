/** `renderMetrics`: several caches as one exposition. Apart from metrics.ts because it takes
 * `Cache` instances, and cache.ts imports metrics.ts (this module is imported by nothing in the core). */
import type { Cache } from '../cache/cache'
import { CacheError } from '../core/errors'
import { renderExposition } from './metrics'

/**
 * Several caches as one valid exposition (each family's HELP/TYPE once, a `cache` label per
 * series). Namespaces of one cache count once. Rejects with `E_INVALID_OPTION` when two caches
 * share a name and prefix.
 *
 * @example
 * ```ts
 * import { renderMetrics } from 'ferrocache'
 * export async function GET() { return new Response(await renderMetrics([pages, sessions])) }
 * ```
 */
export async function renderMetrics(caches: readonly Cache[]): Promise<string> {
  if (!Array.isArray(caches))
    throw new CacheError('E_INVALID_OPTION', 'renderMetrics(caches) takes an array of caches')
  const sources = await Promise.all(caches.map((c) => c._metricsSource()))
  const seen = new Set<object>()
  return renderExposition(sources.filter((s) => !seen.has(s.id) && seen.add(s.id)))
}
