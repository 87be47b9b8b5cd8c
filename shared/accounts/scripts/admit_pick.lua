-- Admit one request of a client key and, only when it is admitted, pick an account for it: one call.
-- A refused request takes no account slot and no governor spacing.
-- Runs with clientkey_admit(KEYS, ARGV) and pick(KEYS, ARGV) defined from those scripts (see compose).
-- KEYS[1..6], ARGV[1..4] as clientkey_admit.lua; KEYS[7..], ARGV[5..] as pick.lua
-- Returns {admission} when refused, {admission, pick} when admitted, each as its own script returns it.
local admission = clientkey_admit(slice(KEYS, 1, 6), slice(ARGV, 1, 4))
if admission[1] ~= 'ok' then
  return {admission}
end
return {admission, pick(slice(KEYS, 7, #KEYS), slice(ARGV, 5, #ARGV))}
