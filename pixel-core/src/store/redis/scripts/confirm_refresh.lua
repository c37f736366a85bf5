-- KEYS: family; ARGV: current
if redis.call('HGET', KEYS[1], 'cur') == ARGV[1] then
  redis.call('HSET', KEYS[1], 'prev', '')
end
return 1
