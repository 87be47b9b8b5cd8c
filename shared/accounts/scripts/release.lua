-- Free an in-flight lease and record the request's outcome in the account's daily stats.
-- KEYS[1] leases zset, KEYS[2] account hash, KEYS[3] stats hash of the day, KEYS[4] pool zset
-- ARGV[1] account id, ARGV[2] lease id, ARGV[3] outcome: 'ok' | 'error' | 'none' (nothing was served)
-- ARGV[4] input tokens, ARGV[5] output tokens, ARGV[6] credits, ARGV[7] stats ttl s
-- A success closes the circuit breaker: failures and errors in a row back to 0, a finished cooldown
-- back to active.
redis.call('ZREM', KEYS[1], ARGV[2])
local outcome = ARGV[3]
if outcome == 'none' or redis.call('EXISTS', KEYS[2]) == 0 then
  return 0
end
if outcome == 'ok' then
  local f = redis.call('HMGET', KEYS[2], 'failures', 'state', 'errors_in_row')
  if (f[1] and f[1] ~= '0') or (f[3] and f[3] ~= '0') then
    redis.call('HSET', KEYS[2], 'failures', '0', 'errors_in_row', '0')
  end
  if f[2] == 'cooldown' or f[2] == 'exhausted' then
    local t = redis.call('TIME')
    local now = tonumber(t[1]) + tonumber(t[2]) / 1e6
    local score = redis.call('ZSCORE', KEYS[4], ARGV[1])
    if score and tonumber(score) <= now then
      redis.call('HSET', KEYS[2], 'state', 'active', 'state_reason', '', 'cooldown_until', '0',
        'exhausted_until', '0', 'updated_at', tostring(now))
      redis.call('ZADD', KEYS[4], 0, ARGV[1])
    end
  end
end
redis.call('HINCRBY', KEYS[3], 'requests', 1)
if outcome == 'error' then
  redis.call('HINCRBY', KEYS[3], 'errors', 1)
end
redis.call('HINCRBY', KEYS[3], 'input_tokens', tonumber(ARGV[4]) or 0)
redis.call('HINCRBY', KEYS[3], 'output_tokens', tonumber(ARGV[5]) or 0)
redis.call('HINCRBYFLOAT', KEYS[3], 'credits', tonumber(ARGV[6]) or 0)
redis.call('EXPIRE', KEYS[3], tonumber(ARGV[7]))
return 1
