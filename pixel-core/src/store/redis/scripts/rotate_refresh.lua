-- KEYS: family; ARGV: presented, next, now, next_exp, grace, max, window
-- One hash per login; spent tokens are not kept (any token of the family
-- other than the current one, or a fresh retry of the last rotation, is
-- reuse). TTLs only collect garbage; expiry is decided by the stored `exp`.
local t = redis.call('HMGET', KEYS[1], 'user', 'cur', 'prev', 'exp', 'at', 'wn', 'wc')
if not t[1] then return {'invalid'} end
local now = tonumber(ARGV[3])
if tonumber(t[4]) <= now then
  redis.call('DEL', KEYS[1])
  return {'invalid'}
end
if ARGV[1] == t[3] and ARGV[2] == t[2] and now - tonumber(t[5]) <= tonumber(ARGV[5]) then
  return {'rotated', t[1]}
end
if ARGV[1] ~= t[2] then
  redis.call('DEL', KEYS[1])
  return {'reused'}
end
local wn, wc = tonumber(t[6]), tonumber(t[7])
if now - wn >= tonumber(ARGV[7]) then wn, wc = now, 0 end
if wc >= tonumber(ARGV[6]) then
  return {'limited', tostring(math.max(1, wn + tonumber(ARGV[7]) - now))}
end
local ttl = math.max(1, tonumber(ARGV[4]) - now)
redis.call('HSET', KEYS[1], 'cur', ARGV[2], 'prev', ARGV[1], 'exp', ARGV[4], 'at', ARGV[3],
  'wn', wn, 'wc', wc + 1)
redis.call('PEXPIRE', KEYS[1], ttl)
return {'rotated', t[1]}
