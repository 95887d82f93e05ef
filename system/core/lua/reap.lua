-- reap: reclaim tasks whose worker died, hung or was cut off. Two signals say so:
--  * liveness: a worker holding tasks beats (beat.lua) every fraction of a second; once its
--    last beat is older than the detection window it is declared dead, its leases end
--    now and it leaves the alive set (coming back, it finds its completions refused);
--  * the lease: a lease past its deadline whose worker does not beat (or no longer does).
--    A lease past its deadline whose worker still beats is kept (its event loop is busy,
--    a blocking handler, say): its deadline moves on by one detection window.
-- Each reclaimed task goes back to the queue with its attempt counted, or is
-- dead-lettered when its retries are used up. Its token is removed, so the old holder's
-- completion is rejected. Finding a silent worker's tasks scans the running set, which
-- happens only when a worker has just gone silent.
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
-- KEYS[11] alive ZSET (worker id -> last liveness beat, Redis time ms)
-- ARGV[1]  now, epoch ms
-- ARGV[2]  maximum number of tasks to reclaim in this call
-- ARGV[3]  result TTL, ms, for a task that ends cancelled (0 = keep)
-- ARGV[4]  the caller's leader token (fencing: only the current leader's is accepted)
-- ARGV[5]  most finished records the queue keeps (0 = no limit)
-- ARGV[6]  dead-letter TTL, ms (0 = until requeued)
-- ARGV[7]  most dead-lettered records the queue keeps (0 = no limit)
-- ARGV[8]  detection window, ms: a worker whose last beat is older is dead; < 0: leases
--          alone decide (liveness is not looked at)
-- Returns  {number requeued, number dead-lettered, number cancelled, workers declared dead,
--          earliest lease deadline left (epoch ms, false if none), workers beating};
--          {ScriptCode.NOT_LEADER} when the token is not the current leader's (nothing done)
-- @include _lib
if redis.call('HGET', KEYS[9], 'token') ~= ARGV[4] then
  return {ScriptCode.NOT_LEADER}
end
local now_ms, window_ms = ARGV[1], tonumber(ARGV[8])
local liveness = window_ms >= 0
local cut = server_ms() - window_ms

-- Liveness: the leases of workers whose beat is too old end now.
local silent = {}
if liveness then
  silent = redis.call('ZRANGEBYSCORE', KEYS[11], '-inf', '(' .. string.format('%.0f', cut))
end
local declared_dead = 0
if #silent > 0 then
  local dead_worker, held = {}, {}
  for _, w in ipairs(silent) do
    dead_worker[w] = true
    redis.call('ZREM', KEYS[11], w)
  end
  for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
    local w = redis.call('HGET', KEYS[6] .. id, 'worker')
    if w and dead_worker[w] then
      redis.call('ZADD', KEYS[1], 'XX', now_ms, id)
      held[w] = true
    end
  end
  for _ in pairs(held) do declared_dead = declared_dead + 1 end
  if declared_dead > 0 then redis.call('HINCRBY', KEYS[4], 'workers_lost', declared_dead) end
end

local expired = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now_ms, 'LIMIT', 0, ARGV[2])
local requeued, dead, cancelled, kept = 0, 0, 0, 0
local cancelled_ids = {}
for _, id in ipairs(expired) do
  local task_key = KEYS[6] .. id
  local f = redis.call('HMGET', task_key, 'attempts', 'max_retries', 'priority', 'cancel',
    'worker')
  local beat = liveness and f[5] and redis.call('ZSCORE', KEYS[11], f[5])
  if beat and tonumber(beat) >= cut then
    -- Its worker is alive: keep the lease, look again one window later.
    redis.call('ZADD', KEYS[1], 'XX', tonumber(now_ms) + window_ms, id)
    kept = kept + 1
  elseif not f[1] then
    redis.call('ZREM', KEYS[1], id)
    redis.call('HINCRBY', KEYS[4], 'orphans', 1)
  elseif f[4] then
    redis.call('ZREM', KEYS[1], id)
    finish(task_key, KEYS[7] .. id, 'cancelled', now_ms, tonumber(ARGV[3]))
    cancelled = cancelled + 1
    cancelled_ids[cancelled] = id
  elseif tonumber(f[1]) > tonumber(f[2]) then
    redis.call('ZREM', KEYS[1], id)
    redis.call('HSET', task_key, 'error', 'lease expired: the worker stopped heartbeating '
      .. '(killed, hung or cut off) and no retries are left', 'traceback', '')
    redis.call('ZADD', KEYS[3], now_ms, id)
    finish(task_key, KEYS[7] .. id, 'failed', now_ms, 0)
    dead = dead + 1
  else
    redis.call('ZREM', KEYS[1], id)
    redis.call('HDEL', task_key, 'token')
    enqueue(KEYS[2], KEYS[4], task_key, id, f[3], now_ms)
    requeued = requeued + 1
  end
end
local reclaimed = #expired - kept
if reclaimed > 0 then
  redis.call('HINCRBY', KEYS[4], 'lease_expired', reclaimed)
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
local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
local next_deadline = false
if #first > 0 then next_deadline = tonumber(first[2]) end
return {requeued, dead, cancelled, declared_dead, next_deadline, redis.call('ZCARD', KEYS[11])}
