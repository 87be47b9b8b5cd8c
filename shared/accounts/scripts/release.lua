-- Free an in-flight lease; a success closes the account's circuit breaker (failures and errors in a row
-- back to 0, a finished cooldown back to active). The stats are counted apart (count_request.lua: they
-- live with the account, in another slot).
-- KEYS[1] leases zset, KEYS[2] the accounts' columns hash, KEYS[3] pool zset, KEYS[4] accounts set
-- account_id; lease_id; outcome: 'ok' | 'error' | 'none' (nothing was served)
-- Returns 1 when the outcome counts (the account exists and something was served), else 0.
--! ARGV: account_id lease_id outcome
local cols = KEYS[2]
if redis.call('ZREM', KEYS[1], account_id .. '|' .. lease_id) == 1 then
  redis.call('HINCRBY', cols, col(F.inflight, account_id), -1)
end
if outcome == 'none' or redis.call('SISMEMBER', KEYS[4], account_id) == 0 then
  return 0
end
if outcome == 'ok' then
  local f = redis.call('HMGET', cols, col(F.failures, account_id), col(F.state, account_id),
    col(F.errors_in_row, account_id))
  if (f[1] and f[1] ~= '0') or (f[3] and f[3] ~= '0') then
    redis.call('HSET', cols, col(F.failures, account_id), '0', col(F.errors_in_row, account_id), '0')
  end
  if f[2] == S.cooldown or f[2] == S.exhausted then
    local t = redis.call('TIME')
    local now = tonumber(t[1]) + tonumber(t[2]) / 1e6
    local score = redis.call('ZSCORE', KEYS[3], account_id)
    if score and tonumber(score) <= now then
      redis.call('HSET', cols, col(F.state, account_id), S.active, col(F.state_reason, account_id), '',
        col(F.cooldown_until, account_id), '0', col(F.exhausted_until, account_id), '0',
        col(F.updated_at, account_id), tostring(now))
      redis.call('ZADD', KEYS[3], 0, account_id)
    end
  end
end
return 1
