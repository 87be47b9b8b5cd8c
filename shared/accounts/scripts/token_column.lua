-- Record when an account's stored access token expires, for the pick (its `token_until` column), unless a
-- later token write already did: the record and the columns are in different slots, so a token write is
-- two calls (write_tokens.lua, then this), and two writers' second calls may cross.
-- KEYS[1] the accounts' columns hash, KEYS[2] accounts set
-- id; version: the record's token_version after the write; token_until: expiry (unix s, '0' = no token)
-- Returns 1 when written, 0 when the account is gone or a later version was recorded.
--! ARGV: id version:n token_until
if redis.call('SISMEMBER', KEYS[2], id) == 0 then
  return 0
end
local cols = KEYS[1]
if (tonumber(redis.call('HGET', cols, col(F.token_version, id))) or -1) > version then
  return 0
end
redis.call('HSET', cols, col(F.token_until, id), token_until, col(F.token_version, id), tostring(version))
return 1
