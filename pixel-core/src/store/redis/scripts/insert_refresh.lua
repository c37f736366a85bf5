-- KEYS: family; ARGV: user, hash, exp, now
local ttl = math.max(1, tonumber(ARGV[3]) - tonumber(ARGV[4]))
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'user', ARGV[1], 'cur', ARGV[2], 'prev', '', 'exp', ARGV[3],
  'at', ARGV[4], 'wn', ARGV[4], 'wc', '0')
redis.call('PEXPIRE', KEYS[1], ttl)
return 1
