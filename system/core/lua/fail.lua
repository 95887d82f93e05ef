-- fail: a running task raised (or timed out); retry it after a backoff, or dead-letter it.
--
-- KEYS[1]  running ZSET
-- KEYS[2]  queued ZSET
-- KEYS[3]  scheduled ZSET (score: eligible epoch ms)
-- KEYS[4]  dead ZSET (score: epoch ms dead-lettered)
-- KEYS[5]  meta HASH (counters, FIFO sequence)
-- KEYS[6]  wake LIST
-- KEYS[7]  task HASH
-- KEYS[8]  done STREAM of the task
-- KEYS[9]  rate HASH (tasks ended per RATE_BUCKET_MS bucket)
-- KEYS[10] finished ZSET (the retention index of ended tasks)
-- KEYS[11] task key prefix (the id is appended): records that retention deletes
-- KEYS[12] leader wake LIST (woken when the retry is the earliest delayed task)
-- ARGV[1]  task id
-- ARGV[2]  fencing token
-- ARGV[3]  now, epoch ms
-- ARGV[4]  error message
-- ARGV[5]  traceback text
-- ARGV[6]  retry delay, ms (computed by the caller with backoff and jitter); < 0 = never retry
-- ARGV[7]  result TTL, ms, for a task that ends cancelled (0 = keep)
-- ARGV[8]  most finished records the queue keeps (0 = no limit)
-- ARGV[9]  dead-letter TTL, ms (0 = until requeued)
-- ARGV[10] most dead-lettered records the queue keeps (0 = no limit)
-- Returns  FailReply: RETRIED (queued or scheduled), DEAD_LETTERED (state 'failed'),
--          CANCELLED (cancel had been requested), STALE_LEASE (rejected and counted)
-- @include _lib
local id, now_ms, delay_ms = ARGV[1], ARGV[3], tonumber(ARGV[6])
local task_key = KEYS[7]
local f = redis.call('HMGET', task_key, 'state', 'token', 'attempts', 'max_retries',
  'priority', 'cancel')
if f[1] ~= 'running' or f[2] ~= ARGV[2] then
  redis.call('HINCRBY', KEYS[5], 'stale_rejected', 1)
  return FailReply.STALE_LEASE
end

redis.call('ZREM', KEYS[1], id)
redis.call('HSET', task_key, 'error', ARGV[4], 'traceback', ARGV[5])

if f[6] then
  finish(task_key, KEYS[8], 'cancelled', now_ms, tonumber(ARGV[7]))
  retain_finished(KEYS[10], KEYS[11], {id}, now_ms, tonumber(ARGV[7]), tonumber(ARGV[8]))
  redis.call('HINCRBY', KEYS[5], 'cancelled', 1)
  count_finished(KEYS[9], now_ms, 1)
  return FailReply.CANCELLED
end

if delay_ms >= 0 and tonumber(f[3]) <= tonumber(f[4]) then
  redis.call('HDEL', task_key, 'token')
  redis.call('HINCRBY', KEYS[5], 'retried', 1)
  if delay_ms == 0 then
    enqueue(KEYS[2], KEYS[5], task_key, id, f[5], now_ms)
    wake(KEYS[6], 1)
  else
    local eta_ms = string.format('%.0f', tonumber(now_ms) + delay_ms)
    redis.call('ZADD', KEYS[3], eta_ms, id)
    redis.call('HSET', task_key, 'state', 'scheduled', 'eligible_ms', eta_ms)
    scheduled_first(KEYS[3], KEYS[12], eta_ms)
  end
  return FailReply.RETRIED
end

redis.call('ZADD', KEYS[4], now_ms, id)
-- Dead-lettered records do not expire: they wait for inspection or requeue, within the
-- dead-letter queue's own retention.
finish(task_key, KEYS[8], 'failed', now_ms, 0)
trim_retained(KEYS[4], KEYS[11], now_ms, tonumber(ARGV[9]), tonumber(ARGV[10]))
redis.call('HINCRBY', KEYS[5], 'failed', 1)
count_finished(KEYS[9], now_ms, 1)
return FailReply.DEAD_LETTERED
