-- Store a refreshed access token (and a rotated refresh token) only if nobody wrote tokens since we read them.
-- KEYS[1] account hash
-- ARGV[1] expected token_version, ARGV[2] access_token_enc, ARGV[3] access_expires_at (unix s),
-- ARGV[4] new refresh_token_enc ('' = not rotated), ARGV[5] profile_arn ('' = unchanged)
-- Returns {1, new_version} when written, {0, current_version} on a version mismatch, {0, -1} when the
-- account no longer exists (deleted while refreshing: never resurrect it).
if redis.call('EXISTS', KEYS[1]) == 0 then
  return {0, -1}
end
local current = tonumber(redis.call('HGET', KEYS[1], 'token_version') or '0') or 0
if current ~= tonumber(ARGV[1]) then
  return {0, current}
end
local t = redis.call('TIME')
local now = tostring(tonumber(t[1]) + tonumber(t[2]) / 1e6)
if ARGV[4] ~= '' then
  -- keep the replaced token until the new one has been used successfully once
  local old = redis.call('HGET', KEYS[1], 'refresh_token_enc') or ''
  redis.call('HSET', KEYS[1], 'refresh_token_enc', ARGV[4], 'prev_refresh_token_enc', old)
else
  -- the stored refresh token just worked: the one it replaced is no longer needed
  redis.call('HSET', KEYS[1], 'prev_refresh_token_enc', '')
end
if ARGV[5] ~= '' then
  redis.call('HSET', KEYS[1], 'profile_arn', ARGV[5])
end
redis.call('HSET', KEYS[1],
  'access_token_enc', ARGV[2], 'access_expires_at', ARGV[3], 'token_version', tostring(current + 1),
  'last_refresh_at', now, 'last_refresh_error', '', 'refresh_failures', '0', 'updated_at', now)
return {1, current + 1}
