-- KEYS: family; ARGV: now
local exp = redis.call('HGET', KEYS[1], 'exp')
if not exp then return 0 end
redis.call('DEL', KEYS[1])
if tonumber(exp) <= tonumber(ARGV[1]) then return 0 end
return 1
