-- Push an in-flight lease's expiry forward (long streams); a lease already reclaimed stays gone.
-- KEYS[1] leases zset; ARGV[1] lease member (`<account id>|<lease id>`), ARGV[2] ttl ms.
-- Returns 1 when the lease was still held.
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then
  return 0
end
local t = redis.call('TIME')
local now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[1], now_ms + tonumber(ARGV[2]), ARGV[1])
return 1
