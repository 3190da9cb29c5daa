/**
 * getOrSet as the operators see it: the loader's run time (histogram, OpenTelemetry), a span per
 * call when OpenTelemetry is installed, and the `'stale'` event. The single-flight itself is
 * untouched; it only marks the per-call trace (coalesced, stale) when one is attached to the plan.
 */
import { performance } from 'node:perf_hooks'
import type { FlightTrace, Loader, Plan, SingleFlight } from './single-flight'
import type { LoaderContext } from './loader'
import type { OtelBridge } from './otel'
import type { Telemetry } from './telemetry'

/** Runs one getOrSet through the single-flight, observed. `trace` (optional) receives the outcome. */
export function observedGetOrSet(
  flights: SingleFlight,
  telemetry: Telemetry,
  otel: OtelBridge | undefined,
  key: string,
  userKey: string,
  loader: Loader,
  plan: Plan,
  trace?: FlightTrace & { loaded?: boolean },
): Promise<unknown> {
  const wantsStale = telemetry.wants('stale')
  if (trace === undefined && (otel !== undefined || wantsStale)) trace = { coalesced: false, stale: false }
  if (trace !== undefined) plan.trace = trace
  const t = trace
  const timed: Loader = (ctx: LoaderContext) => {
    if (t !== undefined) t.loaded = true
    const t0 = performance.now()
    const observe = (): void => {
      const s = (performance.now() - t0) / 1000
      telemetry.load.observe(s)
      otel?.recordDuration('getOrSet.load', s)
    }
    let r: unknown
    try {
      r = loader(ctx)
    } catch (e) {
      observe()
      throw e
    }
    if (r !== null && typeof (r as PromiseLike<unknown>)?.then === 'function') {
      return Promise.resolve(r).then(
        (v) => {
          observe()
          return v
        },
        (e) => {
          observe()
          throw e
        },
      )
    }
    observe()
    return r
  }
  if (t === undefined) return flights.run(key, timed, plan)
  let span = otel?.startGetOrSet()
  const run = (): Promise<unknown> => flights.run(key, timed, plan)
  const p = span !== undefined && otel !== undefined ? otel.within(span, run) : run()
  if (span !== undefined && span.isRecording?.() === false) {
    // No SDK registered (or sampled out): the span records nothing, so it needs no outcome and
    // no continuation per call; it still parented the loader's spans above.
    span.end()
    span = undefined
    if (!wantsStale) return p
  }
  const outcome = (error?: unknown): void => {
    const hit = !t.coalesced && (t.stale || !t.loaded)
    if (span !== undefined) otel?.endGetOrSet(span, { hit, stale: t.stale, coalesced: t.coalesced, error })
    if (t.stale && wantsStale) telemetry.emit({ type: 'stale', key: userKey, at: new Date() })
  }
  p.then(
    () => outcome(),
    (e) => outcome(e),
  )
  return p
}
