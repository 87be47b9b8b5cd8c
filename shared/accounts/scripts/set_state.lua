-- Move one account to a state and keep the pool sorted set in step, atomically.
-- KEYS[1] account hash, KEYS[2] pool zset
-- id; state; reason; until_ts (unix s, 0 = none); reset: '1' to also reset the consecutive-failure counters
-- Returns 1 when the account exists, 0 otherwise.
--! ARGV: id state reason until_ts:n reset
if redis.call('EXISTS', KEYS[1]) == 0 then
  return 0
end
until_ts = until_ts or 0
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1e6
redis.call('HSET', KEYS[1], F.state, state, F.state_reason, reason, F.updated_at, tostring(now))
if state == S.cooldown then
  redis.call('HSET', KEYS[1], F.cooldown_until, tostring(until_ts))
elseif state == S.exhausted then
  redis.call('HSET', KEYS[1], F.exhausted_until, tostring(until_ts))
elseif state == S.active then
  redis.call('HSET', KEYS[1], F.cooldown_until, '0', F.exhausted_until, '0')
end
if reset == '1' then
  redis.call('HSET', KEYS[1], F.failures, '0', F.errors_in_row, '0')
end
local enabled = redis.call('HGET', KEYS[1], F.enabled)
local in_pool = (state == S.active or state == S.cooldown or state == S.exhausted) and enabled == '1'
if in_pool then
  local score = 0
  if state ~= S.active then score = until_ts end
  redis.call('ZADD', KEYS[2], score, id)
else
  redis.call('ZREM', KEYS[2], id)
end
return 1
