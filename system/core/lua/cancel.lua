-- cancel: a queued or scheduled task is cancelled at once; a running one is asked to stop
-- (its worker sees the request on its next heartbeat and stops cooperatively).
--
-- KEYS[1]  queued ZSET
-- KEYS[2]  scheduled ZSET
-- KEYS[3]  meta HASH (counters)
-- KEYS[4]  task HASH
-- KEYS[5]  done STREAM of the task
-- KEYS[6]  rate HASH (tasks ended per RATE_BUCKET_MS bucket)
-- KEYS[7]  finished ZSET (the retention index of ended tasks)
-- KEYS[8]  task key prefix (the id is appended): records that retention deletes
-- ARGV[1]  task id
-- ARGV[2]  now, epoch ms
-- ARGV[3]  result TTL, ms (0 = keep)
-- ARGV[4]  reason, stored as the task's error
-- ARGV[5]  most finished records the queue keeps (0 = no limit)
-- Returns  {CancelReply, state}: CANCELLED now; REQUESTED (running: it stops
--          cooperatively); ALREADY_FINISHED (state unchanged); TASK_NOT_FOUND (state '')
-- @include _lib
local id, now_ms = ARGV[1], ARGV[2]
local state = redis.call('HGET', KEYS[4], 'state')
if not state then return {CancelReply.TASK_NOT_FOUND, ''} end
if state == 'queued' or state == 'scheduled' then
  redis.call('ZREM', KEYS[1], id)
  redis.call('ZREM', KEYS[2], id)
  redis.call('HSET', KEYS[4], 'error', ARGV[4])
  finish(KEYS[4], KEYS[5], 'cancelled', now_ms, tonumber(ARGV[3]))
  retain_finished(KEYS[7], KEYS[8], {id}, now_ms, tonumber(ARGV[3]), tonumber(ARGV[5]))
  redis.call('HINCRBY', KEYS[3], 'cancelled', 1)
  count_finished(KEYS[6], now_ms, 1)
  return {CancelReply.CANCELLED, 'cancelled'}
end
if state == 'running' then
  redis.call('HSET', KEYS[4], 'cancel', ARGV[4])
  return {CancelReply.REQUESTED, 'running'}
end
return {CancelReply.ALREADY_FINISHED, state}
