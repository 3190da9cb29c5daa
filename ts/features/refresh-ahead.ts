/**
 * Refresh-ahead and forced reloads: background loads that replace a present entry. An entry's age
 * comes from its fresh-until time, which every read returns (no extra round trip).
 */
/** What these checks need of a getOrSet plan (ms). */
export interface RefreshPlan {
  ttlMs: number
  refreshWithinMs?: number
}

/**
 * A background load that replaces a present entry: a refresh-ahead (`value`: what the hit
 * returned, the loader's `ctx.stale`) or a forced reload (`since`: entries written after this
 * epoch ms are new enough).
 */
export interface Ahead {
  value: unknown
  since?: number
}

/** Whether the entry read under the lock already replaces what a background load was for. */
export function newEnough(until: number, plan: RefreshPlan, ahead: Ahead): boolean {
  if (ahead.since === undefined) return !due(until, plan)
  return until > 0 && until - plan.ttlMs >= ahead.since // written (fresh-until − ttl) since then
}

/** Whether an entry fresh until `until` (epoch ms, 0 = unknown) is past its refresh-ahead point. */
export function due(until: number, plan: RefreshPlan): boolean {
  return until > 0 && until - Date.now() <= (plan.refreshWithinMs as number)
}
