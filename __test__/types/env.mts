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
  }
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
