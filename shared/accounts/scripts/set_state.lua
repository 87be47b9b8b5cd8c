-- Move one account to a state and keep the pool sorted set in step, atomically.
-- KEYS[1] account hash, KEYS[2] pool zset
-- ARGV[1] account id, ARGV[2] state, ARGV[3] reason, ARGV[4] until (unix s, 0 = none),
-- ARGV[5] "1" to also reset the consecutive-failure counters
-- Returns 1 when the account exists, 0 otherwise.
if redis.call('EXISTS', KEYS[1]) == 0 then
  return 0
end
local id, state, reason, until_ts = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4]) or 0
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1e6
redis.call('HSET', KEYS[1], 'state', state, 'state_reason', reason, 'updated_at', tostring(now))
if state == 'cooldown' then
  redis.call('HSET', KEYS[1], 'cooldown_until', tostring(until_ts))
elseif state == 'exhausted' then
  redis.call('HSET', KEYS[1], 'exhausted_until', tostring(until_ts))
elseif state == 'active' then
  redis.call('HSET', KEYS[1], 'cooldown_until', '0', 'exhausted_until', '0')
end
if ARGV[5] == '1' then
  redis.call('HSET', KEYS[1], 'failures', '0', 'errors_in_row', '0')
end
local enabled = redis.call('HGET', KEYS[1], 'enabled')
local in_pool = (state == 'active' or state == 'cooldown' or state == 'exhausted') and enabled == '1'
if in_pool then
  local score = 0
  if state ~= 'active' then score = until_ts end
  redis.call('ZADD', KEYS[2], score, id)
else
  redis.call('ZREM', KEYS[2], id)
end
return 1
