-- Free an in-flight lease and record the request's outcome in the account's daily and all-time stats.
-- KEYS[1] leases zset, KEYS[2] account hash, KEYS[3] stats hash of the day, KEYS[4] pool zset,
-- KEYS[5] all-time stats hash (same counters, no expiry)
-- account_id; lease_id; outcome: 'ok' | 'error' | 'none' (nothing was served); input_tokens;
-- output_tokens; credits; stats_ttl s
-- A success closes the circuit breaker: failures and errors in a row back to 0, a finished cooldown
-- back to active.
--! ARGV: account_id lease_id outcome input_tokens:n output_tokens:n credits:n stats_ttl:n
redis.call('ZREM', KEYS[1], lease_id)
if outcome == 'none' or redis.call('EXISTS', KEYS[2]) == 0 then
  return 0
end
if outcome == 'ok' then
  local f = redis.call('HMGET', KEYS[2], F.failures, F.state, F.errors_in_row)
  if (f[1] and f[1] ~= '0') or (f[3] and f[3] ~= '0') then
    redis.call('HSET', KEYS[2], F.failures, '0', F.errors_in_row, '0')
  end
  if f[2] == S.cooldown or f[2] == S.exhausted then
    local t = redis.call('TIME')
    local now = tonumber(t[1]) + tonumber(t[2]) / 1e6
    local score = redis.call('ZSCORE', KEYS[4], account_id)
    if score and tonumber(score) <= now then
      redis.call('HSET', KEYS[2], F.state, S.active, F.state_reason, '', F.cooldown_until, '0',
        F.exhausted_until, '0', F.updated_at, tostring(now))
      redis.call('ZADD', KEYS[4], 0, account_id)
    end
  end
end
for _, stats in ipairs({KEYS[3], KEYS[5]}) do
  redis.call('HINCRBY', stats, C.requests, 1)
  if outcome == 'error' then
    redis.call('HINCRBY', stats, C.errors, 1)
  end
  redis.call('HINCRBY', stats, C.input_tokens, input_tokens or 0)
  redis.call('HINCRBY', stats, C.output_tokens, output_tokens or 0)
  redis.call('HINCRBYFLOAT', stats, C.credits, credits or 0)
end
redis.call('EXPIRE', KEYS[3], stats_ttl)
return 1
