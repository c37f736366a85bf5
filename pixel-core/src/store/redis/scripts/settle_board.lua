-- Redis Cluster, the board's slot. KEYS: placed, board fence
-- The seq the attempt got, or 0 after fencing it off for good.
local seq = redis.call('GET', KEYS[1])
if seq then return tonumber(string.match(seq, '^(%d+)')) end
redis.call('SET', KEYS[2], '1', 'PX', 600000)
return 0
