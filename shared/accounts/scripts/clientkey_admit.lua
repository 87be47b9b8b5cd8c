-- Admit one request of a client API key: enabled, under its daily token budget and its requests per minute.
-- KEYS[1] key record hash, KEYS[2] RPM window zset, KEYS[3] usage hash of the day
-- ARGV[1] unique request id, ARGV[2] usage ttl s
-- Returns {'ok', 0}, {'rpm', retry after ms}, {'tokens', 0}, {'disabled', 0} or {'gone', 0}.
local f = redis.call('HMGET', KEYS[1], 'enabled', 'rpm', 'daily_tokens')
if not f[1] then return {'gone', 0} end
if f[1] ~= '1' then return {'disabled', 0} end
local t = redis.call('TIME')
local now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local budget = tonumber(f[3]) or 0
if budget > 0 and (tonumber(redis.call('HGET', KEYS[3], 'tokens')) or 0) >= budget then
  return {'tokens', 0}
end
local rpm = tonumber(f[2]) or 0
if rpm > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now_ms - 60000)
  if redis.call('ZCARD', KEYS[2]) >= rpm then
    local oldest = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
    return {'rpm', math.max(1, tonumber(oldest[2]) + 60000 - now_ms)}
  end
  redis.call('ZADD', KEYS[2], now_ms, ARGV[1])
  redis.call('PEXPIRE', KEYS[2], 61000)
end
redis.call('HINCRBY', KEYS[3], 'requests', 1)
redis.call('EXPIRE', KEYS[3], tonumber(ARGV[2]))
redis.call('HSET', KEYS[1], 'last_used_at', tostring(now_ms / 1000))
return {'ok', 0}
