-- Redis Cluster, the user's slot. KEYS: cooldown; ARGV: placement_id
-- Gives back a reservation whose placement did not apply (the stored end
-- was reached before it was taken, so without it there is no cooldown).
local v = redis.call('GET', KEYS[1])
if v and string.match(v, '^%-?%d+:([^:]*):') == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
