-- Count a served request in the account's stats of the day and of all time (nothing for a deleted account).
-- KEYS[1] account hash, KEYS[2] stats hash of the day, KEYS[3] all-time stats hash (same counters, no expiry)
-- outcome: 'ok' | 'error' ('none' counts nothing); input_tokens; output_tokens; credits; stats_ttl s
--! ARGV: outcome input_tokens:n output_tokens:n credits:n stats_ttl:n
if outcome == 'none' or redis.call('EXISTS', KEYS[1]) == 0 then
  return 0
end
for _, stats in ipairs({KEYS[2], KEYS[3]}) do
  redis.call('HINCRBY', stats, C.requests, 1)
  if outcome == 'error' then
    redis.call('HINCRBY', stats, C.errors, 1)
  end
  redis.call('HINCRBY', stats, C.input_tokens, input_tokens or 0)
  redis.call('HINCRBY', stats, C.output_tokens, output_tokens or 0)
  redis.call('HINCRBYFLOAT', stats, C.credits, credits or 0)
end
redis.call('EXPIRE', KEYS[2], stats_ttl)
return 1
