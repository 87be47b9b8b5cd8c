-- Append one finished request to the request log: a stream capped near its size (XADD MAXLEN ~).
-- KEYS[1] request log stream
-- ARGV[1] max entries (0 = log nothing), ARGV[2..] field, value, field, value, ...
local size = tonumber(ARGV[1]) or 0
if size <= 0 or #ARGV < 3 then
  return 0
end
redis.call('XADD', KEYS[1], 'MAXLEN', '~', size, '*', unpack(ARGV, 2))
return 1
