// ferrocache as Next's cache: ISR pages, route handlers and the fetch cache (`cacheHandler`) and
// 'use cache' (`cacheHandlers`) live in Valkey, shared by every instance, with one tag space.
// Configured from the environment: FERROCACHE_URL (or VALKEY_URL), FERROCACHE_PREFIX (default 'next:').
import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)
const nextMajor = Number(require('next/package.json').version.split('.')[0])
const useCacheHandlers = { default: require.resolve('ferrocache/next/use-cache') }

/** @type {import('next').NextConfig} */
const config = {
  cacheHandler: require.resolve('ferrocache/next'),
  cacheMaxMemorySize: 0, // no per-instance memory copy: every instance reads the shared entry
  serverExternalPackages: ['ferrocache'], // a native addon: loaded by Node, never bundled
  // 'use cache' handlers: top-level `cacheHandlers` on Next 16, `experimental.cacheHandlers` on 15.
  ...(nextMajor >= 16
    ? { cacheHandlers: useCacheHandlers, experimental: { useCache: true } }
    : { experimental: { useCache: true, cacheHandlers: useCacheHandlers } }),
  // The tests build this app inside the ferrocache repo (ferrocache is a symlink to it).
  ...(process.env.NEXT_APP_ROOT
    ? { outputFileTracingRoot: process.env.NEXT_APP_ROOT, turbopack: { root: process.env.NEXT_APP_ROOT } }
    : {}),
}

export default config
