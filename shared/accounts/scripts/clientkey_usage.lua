-- Settle a finished request of a client key: free its in-flight entry and add its tokens, credits (and
-- whether it failed) to the key's usage of the day and of all time, and its credits to the month's (what
-- the monthly budget reads).
-- KEYS[1] usage hash of the day, KEYS[2] credits hash of the month, KEYS[3] all-time usage hash,
-- KEYS[4] in-flight zset
-- input, output: tokens; credits; failed: '1' when the request failed; ttl: usage ttl s (day and month);
-- request_id: the in-flight entry admission added ('' = none)
--! ARGV: input:n output:n credits:n failed ttl:n request_id
input, output, credits = input or 0, output or 0, credits or 0
if request_id ~= '' then
  redis.call('ZREM', KEYS[4], request_id)
end
if input == 0 and output == 0 and credits == 0 and failed ~= '1' then
  return 1
end
for _, i in ipairs({1, 3}) do
  redis.call('HINCRBY', KEYS[i], C.input_tokens, input)
  redis.call('HINCRBY', KEYS[i], C.output_tokens, output)
  redis.call('HINCRBY', KEYS[i], C.tokens, input + output)
  if failed == '1' then
    redis.call('HINCRBY', KEYS[i], C.errors, 1)
  end
end
if credits > 0 then
  for i = 1, 3 do
    redis.call('HINCRBYFLOAT', KEYS[i], C.credits, credits)
  end
  redis.call('EXPIRE', KEYS[2], ttl)
end
redis.call('EXPIRE', KEYS[1], ttl)
return 1
