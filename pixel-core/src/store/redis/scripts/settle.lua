-- KEYS: cooldown, fence, placed; ARGV: placement_id
-- The seq the attempt got, or 0 after fencing it off for good.
-- `placed` names the attempt itself; the cooldown key only the user's
-- latest placement (which a later one replaces), and is read for attempts
-- placed before `placed` existed (an upgrade under way).
local done = redis.call('GET', KEYS[3])
if done then return tonumber(done) end
local v = redis.call('GET', KEYS[1])
if v then
  local id, seq = string.match(v, '^%-?%d+:([^:]*):(%d+)$')
  if id == ARGV[1] then return tonumber(seq) end
end
redis.call('SET', KEYS[2], '1', 'PX', 600000)
return 0
