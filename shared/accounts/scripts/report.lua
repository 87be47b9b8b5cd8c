-- Count an account-level failure; cool the account down when it is ejected (outlier detection).
-- KEYS[1] the accounts' columns hash, KEYS[2] pool zset, KEYS[3] accounts set
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
if redis.call('SISMEMBER', KEYS[3], account_id) == 0 then
  return false
end
local cols = KEYS[1]
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1e6
if (after or 1) > 1 then
  local score = redis.call('ZSCORE', KEYS[2], account_id)
  if score and tonumber(score) > now then
    return score
  end
  if redis.call('HINCRBY', cols, col(F.errors_in_row, account_id), 1) < after then
    return '0'
  end
  redis.call('HSET', cols, col(F.errors_in_row, account_id), '0')
end
local failures = redis.call('HINCRBY', cols, col(F.failures, account_id), 1)
local f = redis.call('HMGET', cols, col(F.state, account_id), col(F.enabled, account_id))
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
redis.call('HSET', cols, col(F.state, account_id), S.cooldown, col(F.state_reason, account_id), reason,
  col(F.cooldown_until, account_id), tostring(until_ts), col(F.updated_at, account_id), tostring(now))
redis.call('ZADD', KEYS[2], until_ts, account_id)
return tostring(until_ts)
