-- Set pick-state columns of one account only while it is registered (a deleted account is never
-- resurrected).
-- KEYS[1] the accounts' columns hash, KEYS[2] accounts set; ARGV[1] id, then column, value pairs.
-- Returns 1 when written, 0 when the account does not exist.
local id = ARGV[1]
if redis.call('SISMEMBER', KEYS[2], id) == 0 then
  return 0
end
local t = redis.call('TIME')
redis.call('HSET', KEYS[1], col(F.updated_at, id), tostring(tonumber(t[1]) + tonumber(t[2]) / 1e6))
for i = 2, #ARGV, 2 do
  redis.call('HSET', KEYS[1], col(ARGV[i], id), ARGV[i + 1])
end
return 1
