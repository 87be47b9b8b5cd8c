-- Reserve one admin password check, before the password is verified, so parallel attempts cannot all
-- pass a check-then-count limit. The attempt counts as a failure until the login succeeds (released).
-- KEYS[1] failures of this client address, KEYS[2] failures of the admin account (every address),
-- KEYS[3] next turn (ms) of the slowed-down checks, KEYS[4] trusted flag of this client address
-- per_address: failures allowed per address; overall: account failures before checks slow down;
-- window s; spacing ms of slowed-down checks; max_wait: longest wait ms for a turn
--! ARGV: per_address:n overall:n window:n spacing:n max_wait:n
-- Returns {verdict, ms}: {'ok', wait ms before checking}, {'address', retry after ms} (this address is
-- over its limit) or {'busy', retry after ms} (no turn within the longest wait).
if (tonumber(redis.call('GET', KEYS[1])) or 0) >= per_address then
  return {'address', math.max(1000, redis.call('PTTL', KEYS[1]))}
end
local wait = 0
if (tonumber(redis.call('GET', KEYS[2])) or 0) >= overall and redis.call('EXISTS', KEYS[4]) == 0 then
  local t = redis.call('TIME')
  local now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  local turn = math.max(now_ms, tonumber(redis.call('GET', KEYS[3])) or 0)
  wait = turn - now_ms
  if wait > max_wait then return {'busy', wait - max_wait} end
  redis.call('SET', KEYS[3], turn + spacing, 'PX', wait + spacing + 1000)
end
for i = 1, 2 do
  if redis.call('INCR', KEYS[i]) == 1 then redis.call('EXPIRE', KEYS[i], window) end
end
return {'ok', wait}
