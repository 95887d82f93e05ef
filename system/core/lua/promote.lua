-- promote: move scheduled tasks whose time has come (delays, retry backoffs) to the queue.
--
-- KEYS[1]  scheduled ZSET (score: eligible epoch ms)
-- KEYS[2]  queued ZSET
-- KEYS[3]  meta HASH (FIFO sequence)
-- KEYS[4]  wake LIST
-- KEYS[5]  task key prefix (the id is appended)
-- KEYS[6]  leader HASH (see leader.lua)
-- ARGV[1]  now, epoch ms
-- ARGV[2]  maximum number of tasks to promote in this call
-- ARGV[3]  the caller's leader token (fencing: only the current leader's is accepted)
-- Returns  {number promoted, epoch ms of the next scheduled task (nil if none)};
--          {ScriptCode.NOT_LEADER} when the token is not the current leader's (nothing done)
-- @include _lib
if redis.call('HGET', KEYS[6], 'token') ~= ARGV[3] then return {ScriptCode.NOT_LEADER} end
local now_ms = ARGV[1]
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now_ms, 'WITHSCORES', 'LIMIT', 0,
  ARGV[2])
for i = 1, #due, 2 do
  local id, eligible_ms = due[i], due[i + 1]
  local task_key = KEYS[5] .. id
  redis.call('ZREM', KEYS[1], id)
  local priority = redis.call('HGET', task_key, 'priority')
  if priority then
    -- eligible_ms stays the time it was due, so queue wait is not hidden by promotion lag.
    enqueue(KEYS[2], KEYS[3], task_key, id, priority, eligible_ms)
  else
    redis.call('HINCRBY', KEYS[3], 'orphans', 1)
  end
end
wake(KEYS[4], #due / 2)
local next_due = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
if #next_due == 0 then return {#due / 2, false} end
return {#due / 2, tonumber(next_due[2])}
