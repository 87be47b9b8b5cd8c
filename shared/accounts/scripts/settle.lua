-- Settle a finished request in one call: free its lease (release.lua), add it to the client key's usage
-- of the day (clientkey_usage.lua) and append it to the request log (reqlog.lua); the last two only when
-- their keys are passed. The account's stats are counted apart (count_request.lua, the account's slot).
-- Runs with release(KEYS, ARGV), clientkey_usage(KEYS, ARGV) and reqlog(KEYS, ARGV) defined from those
-- scripts (see compose).
-- KEYS[1..4], ARGV[1..3] as release.lua; ARGV[4] '1' when KEYS[5..8], ARGV[5..10] follow as
-- clientkey_usage.lua;
-- then, when one more key is passed, it and the remaining ARGV as reqlog.lua.
-- Returns what release.lua returns.
local released = release(slice(KEYS, 1, 4), slice(ARGV, 1, 3))
local k, a = 5, 5
if ARGV[4] == '1' then
  clientkey_usage(slice(KEYS, 5, 8), slice(ARGV, 5, 10))
  k, a = 9, 11
end
if KEYS[k] then
  reqlog({KEYS[k]}, slice(ARGV, a, #ARGV))
end
return released
