-- End a cooldown that was taken for one reason only (a new access token ends "invalid token; refreshing").
-- KEYS[1] the accounts' columns hash, KEYS[2] pool zset
-- ARGV[1] account id, ARGV[2] the cooldown reason this ends
-- Returns 1 when the account went back into rotation, 0 when it was not cooling down for that reason.
local id = ARGV[1]
local cols = KEYS[1]
local f = redis.call('HMGET', cols, col(F.state, id), col(F.state_reason, id), col(F.enabled, id))
if f[1] ~= S.cooldown or f[2] ~= ARGV[2] or f[3] ~= '1' then
  return 0
end
local t = redis.call('TIME')
redis.call('HSET', cols, col(F.state, id), S.active, col(F.state_reason, id), '', col(F.cooldown_until, id), '0',
  col(F.updated_at, id), tostring(tonumber(t[1]) + tonumber(t[2]) / 1e6))
redis.call('ZADD', KEYS[2], 0, id)
return 1
