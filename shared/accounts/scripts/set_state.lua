-- Move one account to a state and keep the pool sorted set in step, atomically.
-- KEYS[1] the accounts' columns hash, KEYS[2] pool zset, KEYS[3] accounts set
-- id; state; reason; until_ts (unix s, 0 = none); reset: '1' to also reset the consecutive-failure counters
-- Returns 1 when the account exists, 0 otherwise.
--! ARGV: id state reason until_ts:n reset
if redis.call('SISMEMBER', KEYS[3], id) == 0 then
  return 0
end
local cols = KEYS[1]
until_ts = until_ts or 0
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1e6
redis.call('HSET', cols, col(F.state, id), state, col(F.state_reason, id), reason, col(F.updated_at, id), tostring(now))
if state == S.cooldown then
  redis.call('HSET', cols, col(F.cooldown_until, id), tostring(until_ts))
elseif state == S.exhausted then
  redis.call('HSET', cols, col(F.exhausted_until, id), tostring(until_ts))
elseif state == S.active then
  redis.call('HSET', cols, col(F.cooldown_until, id), '0', col(F.exhausted_until, id), '0')
end
if reset == '1' then
  redis.call('HSET', cols, col(F.failures, id), '0', col(F.errors_in_row, id), '0')
end
local enabled = redis.call('HGET', cols, col(F.enabled, id))
local in_pool = (state == S.active or state == S.cooldown or state == S.exhausted) and enabled == '1'
if in_pool then
  local score = 0
  if state ~= S.active then score = until_ts end
  redis.call('ZADD', KEYS[2], score, id)
else
  redis.call('ZREM', KEYS[2], id)
end
return 1
