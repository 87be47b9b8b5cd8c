-- Push an in-flight lease's expiry forward (long streams); a lease already reclaimed stays gone.
-- KEYS[1] leases zset; ARGV[1] lease id, ARGV[2] ttl ms. Returns 1 when the lease was still held.
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then
  return 0
end
local t = redis.call('TIME')
local now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[2])
redis.call('ZADD', KEYS[1], now_ms + ttl, ARGV[1])
redis.call('PEXPIRE', KEYS[1], ttl + 60000)
return 1
