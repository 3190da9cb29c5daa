/**
 * What `ferrocache` resolves to under the Edge runtime (`edge-light`, `worker` and `browser` export
 * conditions): ferrocache is a native Node.js addon, so importing it there fails with a message that
 * says what to do, instead of a bundler error about a `.node` file.
 */
import { CacheError } from './core/errors'

const MESSAGE =
  'ferrocache runs in the Node.js runtime only (it is a native addon), and this code was bundled for ' +
  'the Edge runtime or the browser. In Next.js: import ferrocache only from server code running on ' +
  "Node.js — for middleware, add `export const config = { runtime: 'nodejs' }` (Next 15.5+) or use " +
  "`proxy.ts` (Next 16, Node.js by default); for a route handler, `export const runtime = 'nodejs'`; " +
  "and never import it from a 'use client' module."

/** The error thrown when ferrocache is imported under the Edge runtime or in a browser bundle. */
export class UnsupportedRuntimeError extends CacheError {
  constructor() {
    super('E_UNSUPPORTED_RUNTIME', MESSAGE)
  }
}

throw new UnsupportedRuntimeError()
