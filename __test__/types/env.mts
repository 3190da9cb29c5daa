// The names the README's code blocks take from the reader's app (a tRPC instance, zod, a db, …),
// declared with real types so that the blocks compile verbatim. See readme-types.test.ts.
import { initTRPC } from '@trpc/server'
import { z as zod } from 'zod'
import type { Cache as FerroCache, GetOrSetOptions } from 'ferrocache'

export interface Ctx {
  userId?: string
  ip: string
}
const trpc = initTRPC.context<Ctx>().create()

declare global {
  var t: typeof trpc
  var z: typeof zod
  var db: {
    dashboard(userId: string): Promise<{ widgets: string[] }>
    post(id: string): Promise<{ id: string; title: string }>
    user(id: string | undefined): Promise<{ id: string } | null>
    rename(p: { id: string; title: string }): Promise<void>
    topProducts(n: number): Promise<{ id: string; name: string }[]>
    users: {
      cursor(): AsyncIterable<{ id: string; orgId: string }>
      update(id: string, u: { id: string; orgId: string }): Promise<void>
    }
    views: { upsertMany(rows: { id: string; count: unknown; version: string }[]): Promise<void> }
  }
  interface Price {
    etag: string
    cents: number
  }
  var refreshAhead: GetOrSetOptions['refreshAhead']
  var sku: string
  var fetchPrice: (sku: string, opts: { etag?: string }) => Promise<Price>
  var log: { info(fields: object): void }
  var id: string
  var user: { id: string; orgId: string }
  var page: string
  var n: number
  var cache: FerroCache
  var key: string
  var load: () => Promise<unknown>
  var ttl: GetOrSetOptions['ttl']
  var tags: GetOrSetOptions['tags']
  var grace: GetOrSetOptions['grace']
  var timeoutMs: GetOrSetOptions['timeoutMs']
  var lockTtlMs: GetOrSetOptions['lockTtlMs']
  var lockWaitMs: GetOrSetOptions['lockWaitMs']
  var hardTimeoutMs: GetOrSetOptions['hardTimeoutMs']
  var ip: string
  var url: string
}
