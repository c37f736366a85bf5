-- KEYS: cooldown, fence; ARGV: placement_id
-- The seq the attempt got, or 0 after fencing it off for good.
local v = redis.call('GET', KEYS[1])
if v then
  local id, seq = string.match(v, '^%-?%d+:([^:]*):(%d+)$')
  if id == ARGV[1] then return tonumber(seq) end
end
redis.call('SET', KEYS[2], '1', 'PX', 600000)
return 0
