-- Create an account record unless one with this id exists; register its id in the accounts set.
-- KEYS[1] account hash, KEYS[2] accounts set, KEYS[3] the pool's weights hash (a stale entry of an earlier
-- account with this id is dropped); ARGV[1] id, then field, value pairs.
-- Returns 1 when created, 0 when the id was taken.
if redis.call('EXISTS', KEYS[1]) == 1 then
  return 0
end
for i = 2, #ARGV, 2 do
  redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
end
redis.call('SADD', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[3], ARGV[1])
return 1
