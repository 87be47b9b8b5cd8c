-- Keep a long request's entry in its client key's in-flight set counting for another slot_ms.
-- KEYS[1] in-flight zset (request id -> expiry ms)
-- Returns 1, or 0 when the entry was gone (settled, or expired and dropped by an admission).
--! ARGV: request_id slot_ms:n
if not redis.call('ZSCORE', KEYS[1], request_id) then
  return 0
end
local t = redis.call('TIME')
local now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[1], now_ms + slot_ms, request_id)
redis.call('PEXPIRE', KEYS[1], slot_ms, 'GT')
return 1
