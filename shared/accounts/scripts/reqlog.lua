-- Append one finished request to the request log: a stream capped near its size (XADD MAXLEN ~).
-- KEYS[1] request log stream
-- ARGV[1] max entries (0 = log nothing), ARGV[2] the entry (JSON), stored as field `e`
local size = tonumber(ARGV[1]) or 0
if size <= 0 or not ARGV[2] then
  return 0
end
redis.call('XADD', KEYS[1], 'MAXLEN', '~', size, '*', 'e', ARGV[2])
return 1
