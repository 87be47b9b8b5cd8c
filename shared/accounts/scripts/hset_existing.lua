-- Set fields of an account record only while the account exists (a deleted account is never resurrected).
-- KEYS[1] account hash; ARGV: field, value pairs; a field named '+refresh_failures' is incremented by its
-- value.
-- Returns 1 when written, 0 when the account does not exist.
if redis.call('EXISTS', KEYS[1]) == 0 then
  return 0
end
local t = redis.call('TIME')
redis.call('HSET', KEYS[1], F.updated_at, tostring(tonumber(t[1]) + tonumber(t[2]) / 1e6))
for i = 1, #ARGV, 2 do
  local field = ARGV[i]
  if string.sub(field, 1, 1) == '+' then
    redis.call('HINCRBY', KEYS[1], string.sub(field, 2), tonumber(ARGV[i + 1]))
  else
    redis.call('HSET', KEYS[1], field, ARGV[i + 1])
  end
end
return 1
