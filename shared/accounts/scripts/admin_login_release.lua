-- A reserved admin password check succeeded: forget this address's failures, give back the account-wide
-- count the reservation took, and trust this address (exempt from the account-wide slow-down).
-- KEYS[1] failures of this client address, KEYS[2] failures of the admin account, KEYS[3] trusted flag
-- ARGV[1] trust lifetime s
redis.call('DEL', KEYS[1])
if (tonumber(redis.call('GET', KEYS[2])) or 0) > 0 then redis.call('DECR', KEYS[2]) end
redis.call('SET', KEYS[3], '1', 'EX', tonumber(ARGV[1]))
return 1
