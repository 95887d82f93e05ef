-- release: a worker shutting down hands back tasks it will not run. They return to the
-- queue without counting the attempt it had claimed.
--
-- KEYS[1]  running ZSET
-- KEYS[2]  queued ZSET
-- KEYS[3]  meta HASH (FIFO sequence)
-- KEYS[4]  wake LIST
-- KEYS[5]  task key prefix (the id is appended)
-- ARGV[1]  now, epoch ms
-- ARGV[2..] pairs: task id, fencing token
-- Returns  number of tasks released (a task whose lease was already lost is skipped)
-- @include _lib
local now_ms, released = ARGV[1], 0
for i = 2, #ARGV, 2 do
  local id = ARGV[i]
  local task_key = KEYS[5] .. id
  local f = redis.call('HMGET', task_key, 'state', 'token', 'priority')
  if f[1] == 'running' and f[2] == ARGV[i + 1] then
    redis.call('ZREM', KEYS[1], id)
    redis.call('HINCRBY', task_key, 'attempts', -1)
    redis.call('HDEL', task_key, 'token', 'worker', 'started_ms')
    enqueue(KEYS[2], KEYS[3], task_key, id, f[3], now_ms)
    released = released + 1
  end
end
wake(KEYS[4], released)
return released
