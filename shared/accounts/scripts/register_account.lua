-- Register a new account id and its pick state (columns), unless the id is taken; the record is written
-- next (create_account.lua: another slot).
-- KEYS[1] accounts set, KEYS[2] the accounts' columns hash
-- ARGV[1] id, then column, value pairs (column names without the id)
-- Returns 1 when registered, 0 when the id was taken.
local id = ARGV[1]
if redis.call('SADD', KEYS[1], id) == 0 then
  return 0
end
for i = 2, #ARGV, 2 do
  redis.call('HSET', KEYS[2], col(ARGV[i], id), ARGV[i + 1])
end
return 1
