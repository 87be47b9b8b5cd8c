-- Count an account-level failure; cool the account down when it is ejected (outlier detection).
-- KEYS[1] account hash, KEYS[2] pool zset
-- ARGV[1] account id, ARGV[2] reason, ARGV[3] minimum wait s (retry hint or fixed pause)
-- ARGV[4] breaker base s (0 = no growth), ARGV[5] breaker cap s, ARGV[6] jitter ratio
-- ARGV[7] consecutive failures that eject (<= 1: this one does; a verdict such as a throttle)
-- A transient failure only counts (`errors_in_row`, reset by any success) until ARGV[7] in a row eject the
-- account; failures while it is already out of rotation are no new evidence and change nothing.
-- An ejection counts in `failures` (consecutive, reset by a success), which grows the wait (circuit breaker):
-- wait = max(minimum, min(base * 2^(failures-1), cap)) * (1 + jitter * random)
-- Returns the unix time the account is usable again, '0' when it stays in rotation, or false when it is
-- gone or out of the pool.
if redis.call('EXISTS', KEYS[1]) == 0 then
  return false
end
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1e6
if (tonumber(ARGV[7]) or 1) > 1 then
  local score = redis.call('ZSCORE', KEYS[2], ARGV[1])
  if score and tonumber(score) > now then
    return score
  end
  if redis.call('HINCRBY', KEYS[1], 'errors_in_row', 1) < tonumber(ARGV[7]) then
    return '0'
  end
  redis.call('HSET', KEYS[1], 'errors_in_row', '0')
end
local failures = redis.call('HINCRBY', KEYS[1], 'failures', 1)
local f = redis.call('HMGET', KEYS[1], 'state', 'enabled')
if (f[1] ~= 'active' and f[1] ~= 'cooldown') or f[2] ~= '1' then
  return false
end
local wait = tonumber(ARGV[3]) or 0
local base, cap = tonumber(ARGV[4]) or 0, tonumber(ARGV[5]) or 0
if base > 0 then
  local grown = math.min(base * 2 ^ (failures - 1), cap)
  if grown > wait then wait = grown end
end
wait = wait * (1 + (tonumber(ARGV[6]) or 0) * math.random())
local until_ts = now + wait
redis.call('HSET', KEYS[1], 'state', 'cooldown', 'state_reason', ARGV[2], 'cooldown_until', tostring(until_ts),
  'updated_at', tostring(now))
redis.call('ZADD', KEYS[2], until_ts, ARGV[1])
return tostring(until_ts)
