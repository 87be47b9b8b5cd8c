-- End a cooldown that was taken for one reason only (a new access token ends "invalid token; refreshing").
-- KEYS[1] account hash, KEYS[2] pool zset
-- ARGV[1] account id, ARGV[2] the cooldown reason this ends
-- Returns 1 when the account went back into rotation, 0 when it was not cooling down for that reason.
local f = redis.call('HMGET', KEYS[1], F.state, F.state_reason, F.enabled)
if f[1] ~= S.cooldown or f[2] ~= ARGV[2] or f[3] ~= '1' then
  return 0
end
local t = redis.call('TIME')
redis.call('HSET', KEYS[1], F.state, S.active, F.state_reason, '', F.cooldown_until, '0',
  F.updated_at, tostring(tonumber(t[1]) + tonumber(t[2]) / 1e6))
redis.call('ZADD', KEYS[2], 0, ARGV[1])
return 1
