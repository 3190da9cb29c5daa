/** The rate limiter's Lua scripts, one per algorithm (run through `scripts.ts`). */

/** How `limit()` counts. See `RateLimiter`. */
export type RateLimitAlgorithm = 'sliding-window' | 'fixed-window' | 'token-bucket'

// Every script takes a batch: KEYS = one key per call (an id may repeat), ARGV = limit, window ms.
// It reads Valkey's clock once, runs `step` on each key in order (atomically: the whole batch is one
// script) and replies [ok, remaining, reset] per key, flattened. One call = a batch of one. The
// window scripts set a key's expiry once per window (when the window starts), not on every call.
const head = (step: string): string => `local limit = tonumber(ARGV[1])
local win = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local function step(key)
${step}
end
local out = {}
for i = 1, #KEYS do
  local a, b, c = step(KEYS[i])
  out[3 * i - 2] = a
  out[3 * i - 1] = b
  out[3 * i] = c
end
return out`

const FIXED = head(`local start = now - (now % win)
local h = redis.call('HMGET', key, 'w', 'n')
local n = 0
if tonumber(h[1]) == start then n = tonumber(h[2]) or 0 end
if n >= limit then return 0, 0, start + win end
n = n + 1
redis.call('HSET', key, 'w', start, 'n', n)
if n == 1 then redis.call('PEXPIREAT', key, start + win) end
return 1, limit - n, start + win`)

// Two fixed-window counters, the previous one weighted by how much of it the sliding window still
// covers (Upstash's / Cloudflare's approach): O(1) memory per id whatever the limit.
const SLIDING = head(`local start = now - (now % win)
local h = redis.call('HMGET', key, 'w', 'c', 'p')
local w = tonumber(h[1])
local cur, prev = 0, 0
if w == start then cur = tonumber(h[2]) or 0; prev = tonumber(h[3]) or 0
elseif w == start - win then prev = tonumber(h[2]) or 0 end
local weight = (win - (now - start)) / win
if cur + 1 + prev * weight > limit + 1e-9 then
  if cur + 1 > limit then return 0, 0, start + win + math.ceil(win / limit) end
  return 0, 0, math.ceil(start + win - (limit - cur - 1) * win / prev)
end
cur = cur + 1
redis.call('HSET', key, 'w', start, 'c', cur, 'p', prev)
if w ~= start then redis.call('PEXPIREAT', key, start + 2 * win) end
return 1, math.floor(limit - cur - prev * weight), start + win`)

// Classic token bucket: capacity `limit`, refilled continuously at `limit` tokens per window.
const BUCKET = head(`local rate = limit / win
local h = redis.call('HMGET', key, 't', 'ts')
local tokens, ts = tonumber(h[1]), tonumber(h[2])
if tokens == nil or ts == nil then tokens = limit; ts = now end
if now > ts then tokens = math.min(limit, tokens + (now - ts) * rate) end
local ok = 0
if tokens >= 1 then
  tokens = tokens - 1
  ok = 1
  redis.call('HSET', key, 't', tokens, 'ts', now)
  redis.call('PEXPIRE', key, math.ceil((limit - tokens) / rate) + 1)
end
local reset = now
if tokens < limit then reset = now + math.ceil((1 - (tokens - math.floor(tokens))) / rate) end
return ok, math.floor(tokens), reset`)

/** @internal The Lua scripts (KEYS: a batch; ARGV: limit, window ms; replies [ok, remaining, reset] per key); exported for the benchmark. */
export const SCRIPTS: Record<RateLimitAlgorithm, string> = {
  'sliding-window': SLIDING,
  'fixed-window': FIXED,
  'token-bucket': BUCKET,
}
