-- Redis Cluster, the epoch's slot. KEYS: epoch, known boards
-- ARGV: fresh epoch, board (or '' for none)
-- Returns {epoch, known}: the data set's epoch (made if missing) and, in
-- the same atomic step, whether `board` was created under it (1) or not
-- yet (0). A board is recorded (RECORD_BOARD) only once its keys exist, so
-- a board recorded but without keys lost them.
redis.call('SET', KEYS[1], ARGV[1], 'NX')
local known = 0
if ARGV[2] ~= '' and redis.call('SISMEMBER', KEYS[2], ARGV[2]) == 1 then known = 1 end
return {redis.call('GET', KEYS[1]), known}
