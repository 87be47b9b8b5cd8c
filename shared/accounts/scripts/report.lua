-- Count an account-level failure; cool the account down when it is ejected (outlier detection).
-- KEYS[1] account hash, KEYS[2] pool zset
-- account_id; reason; min_wait s (retry hint or fixed pause); breaker_base s (0 = no growth);
-- breaker_cap s; jitter ratio; after: consecutive failures that eject (<= 1: this one does; a verdict
-- such as a throttle)
-- A transient failure only counts (`errors_in_row`, reset by any success) until `after` in a row eject the
-- account; failures while it is already out of rotation are no new evidence and change nothing.
-- An ejection counts in `failures` (consecutive, reset by a success), which grows the wait (circuit breaker):
-- wait = max(minimum, min(base * 2^(failures-1), cap)) * (1 + jitter * random)
-- Returns the unix time the account is usable again, '0' when it stays in rotation, or false when it is
-- gone or out of the pool.
--! ARGV: account_id reason min_wait:n breaker_base:n breaker_cap:n jitter:n after:n
if redis.call('EXISTS', KEYS[1]) == 0 then
  return false
end
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1e6
if (after or 1) > 1 then
  local score = redis.call('ZSCORE', KEYS[2], account_id)
  if score and tonumber(score) > now then
    return score
  end
  if redis.call('HINCRBY', KEYS[1], F.errors_in_row, 1) < after then
    return '0'
  end
  redis.call('HSET', KEYS[1], F.errors_in_row, '0')
end
local failures = redis.call('HINCRBY', KEYS[1], F.failures, 1)
local f = redis.call('HMGET', KEYS[1], F.state, F.enabled)
if (f[1] ~= S.active and f[1] ~= S.cooldown) or f[2] ~= '1' then
  return false
end
local wait = min_wait or 0
local base, cap = breaker_base or 0, breaker_cap or 0
if base > 0 then
  local grown = math.min(base * 2 ^ (failures - 1), cap)
  if grown > wait then wait = grown end
end
wait = wait * (1 + (jitter or 0) * math.random())
local until_ts = now + wait
redis.call('HSET', KEYS[1], F.state, S.cooldown, F.state_reason, reason, F.cooldown_until, tostring(until_ts),
  F.updated_at, tostring(now))
redis.call('ZADD', KEYS[2], until_ts, account_id)
return tostring(until_ts)
