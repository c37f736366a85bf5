-- KEYS: seq, geometry, epoch; ARGV: geometry ("<width>x<height>"), fresh epoch
-- Returns {stored geometry, epoch}. Creates what is missing, keeps what is
-- there: at start, and again after the data set was lost.
-- The board's geometry is stored with it: a process configured with
-- another size would silently move every pixel (the index is y*width+x).
redis.call('SET', KEYS[3], ARGV[2], 'NX')
redis.call('SETNX', KEYS[1], 0)
local g = redis.call('GET', KEYS[2])
if not g then
  redis.call('SET', KEYS[2], ARGV[1])
  g = ARGV[1]
end
return {g, redis.call('GET', KEYS[3])}
