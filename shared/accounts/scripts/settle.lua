-- Settle a finished request in one call: free its lease and count it in the account's stats
-- (release.lua), add it to the client key's usage of the day (clientkey_usage.lua) and append it
-- to the request log (reqlog.lua); the last two only when their keys are passed.
-- Runs with release(KEYS, ARGV), clientkey_usage(KEYS, ARGV) and reqlog(KEYS, ARGV) defined from those
-- scripts (see compose).
-- KEYS[1..5], ARGV[1..7] as release.lua; ARGV[8] '1' when KEYS[6..9], ARGV[9..14] follow as
-- clientkey_usage.lua;
-- then, when one more key is passed, it and the remaining ARGV as reqlog.lua.
-- Returns what release.lua returns.
local released = release(slice(KEYS, 1, 5), slice(ARGV, 1, 7))
local k, a = 6, 9
if ARGV[8] == '1' then
  clientkey_usage(slice(KEYS, 6, 9), slice(ARGV, 9, 14))
  k, a = 10, 15
end
if KEYS[k] then
  reqlog({KEYS[k]}, slice(ARGV, a, #ARGV))
end
return released
