-- reap: reclaim tasks whose lease expired (their worker died, hung, or was cut off).
-- Each goes back to the queue with its attempt counted, or is dead-lettered when its
-- retries are used up. Its token is removed, so the old holder's completion is rejected.
--
-- KEYS[1]  running ZSET (score: lease deadline, epoch ms)
-- KEYS[2]  queued ZSET
-- KEYS[3]  dead ZSET
-- KEYS[4]  meta HASH (counters, FIFO sequence)
-- KEYS[5]  wake LIST
-- KEYS[6]  task key prefix (the id is appended)
-- KEYS[7]  done stream prefix (the id is appended)
-- KEYS[8]  rate HASH (tasks ended per RATE_BUCKET_MS bucket)
-- KEYS[9]  leader HASH (see leader.lua)
-- KEYS[10] finished ZSET (the retention index of ended tasks)
-- ARGV[1]  now, epoch ms
-- ARGV[2]  maximum number of tasks to reclaim in this call
-- ARGV[3]  result TTL, ms, for a task that ends cancelled (0 = keep)
-- ARGV[4]  the caller's leader token (fencing: only the current leader's is accepted)
-- ARGV[5]  most finished records the queue keeps (0 = no limit)
-- ARGV[6]  dead-letter TTL, ms (0 = until requeued)
-- ARGV[7]  most dead-lettered records the queue keeps (0 = no limit)
-- Returns  {number requeued, number dead-lettered, number cancelled};
--          {ScriptCode.NOT_LEADER} when the token is not the current leader's (nothing done)
-- @include _lib
if redis.call('HGET', KEYS[9], 'token') ~= ARGV[4] then
  return {ScriptCode.NOT_LEADER}
end
local now_ms = ARGV[1]
local expired = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now_ms, 'LIMIT', 0, ARGV[2])
local requeued, dead, cancelled = 0, 0, 0
local cancelled_ids = {}
for _, id in ipairs(expired) do
  local task_key = KEYS[6] .. id
  redis.call('ZREM', KEYS[1], id)
  local f = redis.call('HMGET', task_key, 'attempts', 'max_retries', 'priority', 'cancel')
  if not f[1] then
    redis.call('HINCRBY', KEYS[4], 'orphans', 1)
  elseif f[4] then
    finish(task_key, KEYS[7] .. id, 'cancelled', now_ms, tonumber(ARGV[3]))
    cancelled = cancelled + 1
    cancelled_ids[cancelled] = id
  elseif tonumber(f[1]) > tonumber(f[2]) then
    redis.call('HSET', task_key, 'error', 'lease expired: the worker stopped heartbeating '
      .. '(killed, hung or cut off) and no retries are left', 'traceback', '')
    redis.call('ZADD', KEYS[3], now_ms, id)
    finish(task_key, KEYS[7] .. id, 'failed', now_ms, 0)
    dead = dead + 1
  else
    redis.call('HDEL', task_key, 'token')
    enqueue(KEYS[2], KEYS[4], task_key, id, f[3], now_ms)
    requeued = requeued + 1
  end
end
if #expired > 0 then
  redis.call('HINCRBY', KEYS[4], 'lease_expired', #expired)
  if dead > 0 then redis.call('HINCRBY', KEYS[4], 'failed', dead) end
  if cancelled > 0 then redis.call('HINCRBY', KEYS[4], 'cancelled', cancelled) end
  wake(KEYS[5], requeued)
  count_finished(KEYS[8], now_ms, dead + cancelled)
  retain_finished(KEYS[10], KEYS[6], cancelled_ids, now_ms, tonumber(ARGV[3]),
    tonumber(ARGV[5]))
  if dead > 0 then
    trim_retained(KEYS[3], KEYS[6], now_ms, tonumber(ARGV[6]), tonumber(ARGV[7]))
  end
end
return {requeued, dead, cancelled}
