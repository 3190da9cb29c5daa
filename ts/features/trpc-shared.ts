/** What the tRPC middlewares share: their public type shapes and the parts of tRPC's middleware
 * options they use. Types only from `@trpc/server` (an optional peer). */
import type { TRPCMiddlewareFunction } from '@trpc/server'
import { InvalidOptionError } from '../core/errors'

/**
 * A tRPC v11 middleware for `.use()`. Its type parameters are those of the procedure it is used on
 * (root context, meta, context added by earlier middlewares, validated input): TypeScript infers
 * them from the `.use()` call, so `ctx` and `input` in the options are typed without annotations.
 */
export type TRPCMiddleware<
  TCtx = any,
  TMeta = any,
  TCtxIn = object,
  TInput = unknown,
> = TRPCMiddlewareFunction<TCtx, TMeta, TCtxIn, object, TInput>

/** The context a middleware sees: the root context overwritten by what earlier middlewares added. */
export type ContextOf<TCtx, TCtxIn> = TCtxIn extends object ? Omit<TCtx, keyof TCtxIn> & TCtxIn : TCtx

/** What `key`/`tags` functions receive. `input` is the validated input (the raw one if none ran). */
export interface ProcedureInfo<TCtx = any, TInput = unknown> {
  input: TInput
  ctx: TCtx
  path: string
}

/** The parts of tRPC's middleware options and results this module uses. */
export interface Opts {
  ctx: unknown
  type: 'query' | 'mutation' | 'subscription'
  path: string
  input: unknown
  getRawInput: () => Promise<unknown>
  next: () => Promise<Result>
}
export type Result = { ok: true; data: unknown } | { ok: false; error: unknown }

export function checkFn(name: string, v: unknown): void {
  if (v !== undefined && typeof v !== 'function')
    throw new InvalidOptionError(`option \`${name}\` must be a function`)
}
