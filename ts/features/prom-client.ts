/**
 * For apps that already expose prom-client's registry: registers ferrocache's families there, read
 * at scrape time from the same renderer as `renderMetrics` (one rendering per scrape).
 * `prom-client` is an optional peer; only a registry-shaped object is needed.
 */
import { CacheError } from '../core/errors'
import type { Cache } from '../cache/cache'
import { renderExposition } from './metrics'
import { renderMetrics } from './render-metrics'

/** The part of prom-client's `Registry` used here. */
export interface PromRegistry {
  registerMetric(metric: unknown): void
}

interface Family {
  name: string
  help: string
  type: string
  values: { value: number; labels: Record<string, string>; metricName?: string }[]
}

function unescape(v: string): string {
  return v.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c))
}

/** Text exposition → families (only what renderExposition writes). */
export function parseExposition(textOut: string): Map<string, Family> {
  const families = new Map<string, Family>()
  let current: Family | undefined
  for (const line of textOut.split('\n')) {
    if (line.startsWith('# HELP ')) {
      const rest = line.slice(7)
      const i = rest.indexOf(' ')
      current = { name: rest.slice(0, i), help: rest.slice(i + 1), type: 'untyped', values: [] }
      families.set(current.name, current)
    } else if (line.startsWith('# TYPE ') && current !== undefined) {
      current.type = line.slice(7).split(' ')[1]
    } else if (line !== '' && current !== undefined) {
      const brace = line.indexOf('{')
      const close = line.lastIndexOf('}')
      const metricName = line.slice(0, brace)
      const labels: Record<string, string> = {}
      for (const m of line.slice(brace + 1, close).matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g))
        labels[m[1]] = unescape(m[2])
      const raw = line.slice(close + 2)
      const value = raw === 'NaN' ? NaN : raw === '+Inf' ? Infinity : Number(raw)
      current.values.push(metricName === current.name ? { value, labels } : { value, labels, metricName })
    }
  }
  return families
}

/**
 * Registers the metrics of `caches` in a prom-client registry (default: prom-client's global
 * `register`). Call once per registry.
 *
 * @example
 * ```ts
 * import client from 'prom-client'
 * import { promCollector } from 'ferrocache'
 * promCollector([cache], client.register)
 * ```
 */
export function promCollector(caches: readonly Cache[], registry?: PromRegistry): void {
  let reg = registry
  if (reg === undefined) {
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      reg = (require('prom-client') as { register: PromRegistry }).register
    } catch {
      throw new CacheError('E_INVALID_OPTION', 'promCollector: install prom-client or pass a registry')
    }
  }
  let scrape: Promise<Map<string, Family>> | undefined
  const current = (): Promise<Map<string, Family>> => {
    if (scrape === undefined) {
      scrape = renderMetrics(caches).then(parseExposition)
      // Every family of one scrape shares one rendering.
      setTimeout(() => (scrape = undefined), 0)
    }
    return scrape
  }
  // Family names and help come from an empty render (the set of families never changes).
  for (const f of parseExposition(emptyExposition()).values()) {
    reg.registerMetric({
      name: f.name,
      help: f.help,
      type: f.type,
      aggregator: 'sum',
      get: async () => {
        const fam = (await current()).get(f.name)
        return { name: f.name, help: f.help, type: f.type, aggregator: 'sum', values: fam?.values ?? [] }
      },
      reset: () => {},
    })
  }
}

function emptyExposition(): string {
  return renderExposition([])
}
