#!/usr/bin/env node
/**
 * `npx ferrocache inspect [--url URL | --nodes URL,URL…] [--prefix P] [--json] [--watch SECONDS]
 * [--sample N] [--top N] [--slowlog N]`: what the cache is doing, for a terminal or a script.
 * Reads `VALKEY_URL` (or `FERROCACHE_URL` / `FERROCACHE_NODES`) by default. Exit code 1 with a
 * one-line reason when the server cannot be reached or refuses the credentials; 2 on bad usage.
 */
import { Cache } from './cache/cache'
import { renderReport } from './features/inspect-report'

const USAGE = `usage: ferrocache inspect [--url URL | --nodes URL,URL...] [--prefix P] [--json] [--watch SECONDS]
                         [--sample N] [--top N] [--slowlog N]
  --url      redis:// or rediss:// URL (default: $VALKEY_URL, then $FERROCACHE_URL)
  --nodes    Valkey Cluster seed URLs, comma-separated (default: $FERROCACHE_NODES)
  --prefix   the cache's key prefix (default: $FERROCACHE_PREFIX, then 'fc:')
  --json     one JSON document (with --watch: one per line)
  --watch    refresh every SECONDS until Ctrl-C
  --sample   keys sized with MEMORY USAGE (default 1000); --top biggest keys listed (default 10)`

interface Args {
  url?: string
  nodes?: string[]
  prefix: string
  json: boolean
  watch?: number
  sample?: number
  top?: number
  slowlog?: number
}

class UsageError extends Error {}

function parse(argv: string[]): Args {
  if (argv[0] !== 'inspect')
    throw new UsageError(argv[0] === undefined ? 'missing command' : `unknown command "${argv[0]}"`)
  const env = process.env
  const a: Args = { prefix: env.FERROCACHE_PREFIX ?? 'fc:', json: false }
  const value = (i: number, flag: string): string => {
    const v = argv[i + 1]
    if (v === undefined || v.startsWith('--')) throw new UsageError(`${flag} needs a value`)
    return v
  }
  const num = (i: number, flag: string): number => {
    const n = Number(value(i, flag))
    if (!Number.isFinite(n) || n < 0) throw new UsageError(`${flag} takes a number`)
    return n
  }
  for (let i = 1; i < argv.length; i++) {
    const f = argv[i]
    if (f === '--url') a.url = value(i++, f)
    else if (f === '--nodes') a.nodes = value(i++, f).split(',').filter(Boolean)
    else if (f === '--prefix') a.prefix = argv[++i] ?? ''
    else if (f === '--json') a.json = true
    else if (f === '--watch') a.watch = num(i++, f)
    else if (f === '--sample') a.sample = Math.floor(num(i++, f))
    else if (f === '--top') a.top = Math.floor(num(i++, f))
    else if (f === '--slowlog') a.slowlog = Math.floor(num(i++, f))
    else if (f === '--help' || f === '-h') throw new UsageError('')
    else throw new UsageError(`unknown option ${f}`)
  }
  if (a.url !== undefined && a.nodes !== undefined) throw new UsageError('give --url or --nodes, not both')
  if (a.url === undefined && a.nodes === undefined) {
    const url = env.VALKEY_URL || env.FERROCACHE_URL
    if (url) a.url = url
    else if (env.FERROCACHE_NODES) a.nodes = env.FERROCACHE_NODES.split(',').filter(Boolean)
    else throw new UsageError('no server: pass --url or --nodes, or set VALKEY_URL')
  }
  if (a.watch !== undefined && a.watch <= 0) throw new UsageError('--watch takes a number of seconds > 0')
  return a
}

/** One line, never the password: URLs in messages are stripped of their credentials. */
function reason(e: unknown): string {
  const code = (e as { code?: unknown })?.code
  const msg = String((e as Error)?.message ?? e).replace(/\/\/[^@/\s]*@/g, '//')
  return `ferrocache inspect: ${typeof code === 'string' ? `${code}: ` : ''}${msg.split('\n')[0]}`
}

async function main(argv: string[]): Promise<number> {
  let args: Args
  try {
    args = parse(argv)
  } catch (e) {
    if (!(e instanceof UsageError)) throw e
    if (e.message) process.stderr.write(`ferrocache: ${e.message}\n`)
    process.stderr.write(USAGE + '\n')
    return 2
  }
  let cache: Cache
  try {
    cache = new Cache({
      ...(args.url !== undefined ? { url: args.url } : { nodes: args.nodes }),
      prefix: args.prefix,
      logger: false,
      connectTimeoutMs: 3000,
      commandTimeoutMs: 5000,
    })
  } catch (e) {
    process.stderr.write(reason(e) + '\n')
    return 1
  }
  const once = async (): Promise<void> => {
    const r = await cache.inspect({ sample: args.sample, top: args.top, slowlog: args.slowlog })
    if (args.json) process.stdout.write(JSON.stringify(r, null, args.watch === undefined ? 2 : 0) + '\n')
    else {
      const text = renderReport(r, args.prefix)
      // In place: cursor home + clear screen, only on a terminal.
      process.stdout.write(args.watch !== undefined && process.stdout.isTTY ? `\x1b[H\x1b[2J${text}` : text)
    }
  }
  try {
    await once()
    if (args.watch === undefined) return 0
    const ms = args.watch * 1000
    let stop = false
    let wake = (): void => {}
    const quit = (): void => {
      stop = true
      wake()
    }
    process.once('SIGINT', quit)
    process.once('SIGTERM', quit)
    while (!stop) {
      await new Promise<void>((r) => {
        const t = setTimeout(r, ms)
        wake = () => {
          clearTimeout(t)
          r()
        }
      })
      if (!stop) await once()
    }
    return 0
  } catch (e) {
    process.stderr.write(reason(e) + '\n')
    return 1
  } finally {
    await cache.close().catch(() => {})
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e) => {
    process.stderr.write(reason(e) + '\n')
    process.exit(1)
  },
)
