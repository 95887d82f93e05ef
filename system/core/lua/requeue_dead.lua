-- requeue_dead: move dead-lettered tasks back to the queue with a fresh retry budget.
--
-- KEYS[1]  dead ZSET
-- KEYS[2]  queued ZSET
-- KEYS[3]  meta HASH (FIFO sequence)
-- KEYS[4]  wake LIST
-- KEYS[5]  task key prefix (the id is appended)
-- ARGV[1]  now, epoch ms
-- ARGV[2]  maximum number of tasks when no ids are given
-- ARGV[3..] task ids to requeue; none = the oldest ARGV[2] dead-lettered tasks
-- Returns  the ids requeued (ids not in the dead-letter queue are skipped)
-- @include _lib
local now_ms = ARGV[1]
local ids = {}
if #ARGV > 2 then
  for i = 3, #ARGV do ids[#ids + 1] = ARGV[i] end
else
  ids = redis.call('ZRANGE', KEYS[1], 0, tonumber(ARGV[2]) - 1)
end
local moved = {}
for _, id in ipairs(ids) do
  if redis.call('ZREM', KEYS[1], id) == 1 then
    local task_key = KEYS[5] .. id
    local priority = redis.call('HGET', task_key, 'priority')
    if priority then
      redis.call('PERSIST', task_key)
      redis.call('HSET', task_key, 'attempts', 0)
      redis.call('HDEL', task_key, 'error', 'traceback', 'finished_ms', 'token', 'worker',
        'started_ms', 'result')
      enqueue(KEYS[2], KEYS[3], task_key, id, priority, now_ms)
      moved[#moved + 1] = id
    end
  end
end
wake(KEYS[4], #moved)
return moved
