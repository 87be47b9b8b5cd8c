-- Authorize one request of a client API key in one call: the record, its expiry, model list, monthly
-- credit and daily token budgets, concurrency cap and requests per minute.
-- KEYS[1] key record hash, KEYS[2] RPM window zset, KEYS[3] usage hash of the day, KEYS[4] credits hash of
-- the month (read only), KEYS[5] all-time usage hash, KEYS[6] in-flight zset (request id -> expiry ms)
-- request_id: unique (the in-flight entry settle removes); ttl: usage ttl s; model: requested ('' = not
-- checked); slot_ms: how long an in-flight entry counts unless renewed (the lease ttl)
-- Returns {verdict, retry after ms, record as a flat field/value list}; verdict is 'ok', 'gone', 'disabled',
-- 'expired', 'model', 'credits', 'tokens', 'concurrency' or 'rpm'. Only 'ok' counts the request.
--! ARGV: request_id ttl:n model slot_ms:n
local raw = redis.call('HGETALL', KEYS[1])
if #raw == 0 then return {'gone', 0, raw} end
local f = {}
for i = 1, #raw, 2 do f[raw[i]] = raw[i + 1] end
if f[K.enabled] ~= '1' then return {'disabled', 0, raw} end
local t = redis.call('TIME')
local now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local expires_at = tonumber(f[K.expires_at]) or 0
if expires_at > 0 and now_ms >= expires_at * 1000 then return {'expired', 0, raw} end
local allowed = f[K.allowed_models]
if model ~= '' and allowed and allowed ~= '' and allowed ~= '[]' then
  local found = false
  for _, name in ipairs(cjson.decode(allowed)) do
    if name == model then found = true break end
  end
  if not found then return {'model', 0, raw} end
end
local credits = tonumber(f[K.monthly_credits]) or 0
if credits > 0 and (tonumber(redis.call('HGET', KEYS[4], C.credits)) or 0) >= credits then
  return {'credits', 0, raw}
end
local budget = tonumber(f[K.daily_tokens]) or 0
if budget > 0 and (tonumber(redis.call('HGET', KEYS[3], C.tokens)) or 0) >= budget then
  return {'tokens', 0, raw}
end
local cap = tonumber(f[K.max_concurrency]) or 0
if cap > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[6], '-inf', now_ms)
  if redis.call('ZCARD', KEYS[6]) >= cap then return {'concurrency', 1000, raw} end
end
local rpm = tonumber(f[K.rpm]) or 0
if rpm > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now_ms - 60000)
  if redis.call('ZCARD', KEYS[2]) >= rpm then
    local oldest = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
    return {'rpm', math.max(1, tonumber(oldest[2]) + 60000 - now_ms), raw}
  end
  redis.call('ZADD', KEYS[2], now_ms, request_id)
  redis.call('PEXPIRE', KEYS[2], 61000)
end
if cap > 0 then
  redis.call('ZADD', KEYS[6], now_ms + slot_ms, request_id)
  redis.call('PEXPIRE', KEYS[6], slot_ms)
end
redis.call('HINCRBY', KEYS[3], C.requests, 1)
redis.call('HINCRBY', KEYS[5], C.requests, 1)
redis.call('EXPIRE', KEYS[3], ttl)
redis.call('HSET', KEYS[1], K.last_used_at, tostring(now_ms / 1000))
return {'ok', 0, raw}
