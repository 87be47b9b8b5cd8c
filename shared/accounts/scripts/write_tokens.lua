-- Store a refreshed access token (and a rotated refresh token) only if nobody wrote tokens since we read them.
-- KEYS[1] account hash
-- expected token_version; access_token_enc; access_expires_at (unix s); refresh_token_enc: the new one
-- ('' = not rotated); profile_arn ('' = unchanged)
-- Returns {1, new_version} when written, {0, current_version} on a version mismatch, {0, -1} when the
-- account no longer exists (deleted while refreshing: never resurrect it).
--! ARGV: expected:n access_token_enc access_expires_at refresh_token_enc profile_arn
if redis.call('EXISTS', KEYS[1]) == 0 then
  return {0, -1}
end
local current = tonumber(redis.call('HGET', KEYS[1], F.token_version) or '0') or 0
if current ~= expected then
  return {0, current}
end
local t = redis.call('TIME')
local now = tostring(tonumber(t[1]) + tonumber(t[2]) / 1e6)
if refresh_token_enc ~= '' then
  -- keep the replaced token until the new one has been used successfully once
  local old = redis.call('HGET', KEYS[1], F.refresh_token_enc) or ''
  redis.call('HSET', KEYS[1], F.refresh_token_enc, refresh_token_enc, F.prev_refresh_token_enc, old)
else
  -- the stored refresh token just worked: the one it replaced is no longer needed
  redis.call('HSET', KEYS[1], F.prev_refresh_token_enc, '')
end
if profile_arn ~= '' then
  redis.call('HSET', KEYS[1], F.profile_arn, profile_arn)
end
redis.call('HSET', KEYS[1],
  F.access_token_enc, access_token_enc, F.access_expires_at, access_expires_at, F.token_version, tostring(current + 1),
  F.last_refresh_at, now, F.last_refresh_error, '', F.refresh_failures, '0', F.updated_at, now)
return {1, current + 1}
