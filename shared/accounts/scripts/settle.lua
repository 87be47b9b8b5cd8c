-- Settle a finished request in one call: free its lease and count it in the account's stats
-- (release.lua), then add it to the client key's usage of the day (clientkey_usage.lua).
-- Runs with release(KEYS, ARGV) and clientkey_usage(KEYS, ARGV) defined from those scripts (see compose).
-- KEYS[1..4], ARGV[1..7] as release.lua; KEYS[5], ARGV[8..11] as clientkey_usage.lua
-- Returns what release.lua returns.
local released = release(slice(KEYS, 1, 4), slice(ARGV, 1, 7))
clientkey_usage(slice(KEYS, 5, 5), slice(ARGV, 8, 11))
return released
