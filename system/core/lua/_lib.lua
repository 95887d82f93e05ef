-- Shared helpers, pasted by the loader in place of `-- @include _lib` (Redis has no include).
-- Task hash fields are documented in system/core/task.py. The upper-case names
-- (SEQ_SPAN, MAX_PRIORITY, RATE_BUCKET_MS, ...) are declared by the loader from
-- system/core/constants.py, where their meaning is documented.

-- A queued task's score: (MAX_PRIORITY - priority) * SEQ_SPAN + seq stays below 2^52, so
-- it is an exact integer in a double, and ZPOPMIN yields the highest priority first and,
-- within it, the oldest. Returned as a number: redis.call writes a number with 17
-- significant digits, exact here; string.format('%.0f') cost a bulk submit 0.6-1.1 us a
-- task.
local function score(priority, seq)
  return (MAX_PRIORITY - tonumber(priority)) * SEQ_SPAN + seq
end

local function priority_score(meta_key, priority)
  return score(priority, redis.call('HINCRBY', meta_key, 'seq', 1))
end

-- ZADD many (score, member) pairs with few calls; unpack() is bounded by the Lua C stack.
local function zadd_pairs(key, pairs)
  for i = 1, #pairs, 4000 do
    redis.call('ZADD', key, unpack(pairs, i, math.min(i + 3999, #pairs)))
  end
end

-- Put a task in the queued ZSET at its priority; eligible_ms is when it became runnable.
local function enqueue(queued_key, meta_key, task_key, id, priority, eligible_ms)
  redis.call('ZADD', queued_key, priority_score(meta_key, priority), id)
  redis.call('HSET', task_key, 'state', 'queued', 'eligible_ms', eligible_ms)
end

-- Redis's own clock, epoch ms: worker liveness is judged on it alone (beats and the
-- reaper's check), so clock skew between hosts cannot make a live worker look dead.
local function server_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- Push up to n wake-up tokens for idle workers; the list is capped so it cannot grow
-- while every worker is busy.
local WAKE_CAP = 16
local function wake(wake_key, n)
  local room = WAKE_CAP - redis.call('LLEN', wake_key)
  if n > room then n = room end
  for _ = 1, n do redis.call('RPUSH', wake_key, '1') end
end

-- Wake the queue's leader, whose maintenance sleeps until its next known duty (the earliest
-- delayed task, the next liveness check); one token is enough.
local function wake_leader(leader_wake_key)
  if redis.call('LLEN', leader_wake_key) == 0 then redis.call('RPUSH', leader_wake_key, '1') end
end

-- A task was put in the scheduled set, eligible at eta_ms: if no task is due before it,
-- the leader's sleep may end too late, so wake it.
local function scheduled_first(scheduled_key, leader_wake_key, eta_ms)
  local head = redis.call('ZRANGE', scheduled_key, 0, 0, 'WITHSCORES')
  if #head == 0 or tonumber(head[2]) >= tonumber(eta_ms) then wake_leader(leader_wake_key) end
end

-- A terminal state was reached: tell waiters (only if one registered, so the common path
-- pays nothing), and let the record expire after the result TTL.
-- `field`, `value`: one more field to write with the state (the result or the error).
-- The token is left in place: the state alone already rejects any later completion.
local function finish(task_key, done_key, state, now_ms, ttl_ms, field, value)
  if field then
    redis.call('HSET', task_key, 'state', state, 'finished_ms', now_ms, field, value)
  else
    redis.call('HSET', task_key, 'state', state, 'finished_ms', now_ms)
  end
  if ttl_ms > 0 then redis.call('PEXPIRE', task_key, ttl_ms) end
  if redis.call('HEXISTS', task_key, 'waiters') == 1 then
    redis.call('XADD', done_key, 'MAXLEN', '1', '*', 'state', state)
    redis.call('PEXPIRE', done_key, DONE_STREAM_TTL_MS)
  end
end

-- Count n tasks that just ended (any terminal state) for the queue's throughput: a HASH of
-- RATE_BUCKET_MS buckets (bucket index -> count), read by the client over the last
-- RATE_BUCKETS of them. The bucket that just left the window is dropped and the key
-- expires when the queue goes quiet, so it stays a handful of fields.
local function count_finished(rate_key, now_ms, n)
  if n == 0 then return end
  local bucket = math.floor(tonumber(now_ms) / RATE_BUCKET_MS)
  redis.call('HINCRBY', rate_key, bucket, n)
  redis.call('HDEL', rate_key, bucket - RATE_BUCKETS - 1)
  redis.call('PEXPIRE', rate_key, 2 * RATE_BUCKETS * RATE_BUCKET_MS)
end

-- Write a new task record and place it: scheduled when eta is in the future, else queued
-- (its score is appended to `queued_pairs`, so a batch needs one ZADD). Fields left out
-- mean their default: attempts 0, timeout_ms 0 (none), eligible_ms = created_ms.
-- `keys` holds scheduled and task_prefix. Returns the state it was placed in.
local function create_task(keys, queued_pairs, seq, now_ms, id, task_type, payload, priority,
                           max_retries, timeout_ms, eta_ms, idem)
  local task_key = keys.task_prefix .. id
  local state = 'queued'
  if tonumber(eta_ms) > tonumber(now_ms) then state = 'scheduled' end
  redis.call('HSET', task_key, 'type', task_type, 'payload', payload, 'priority', priority,
    'state', state, 'max_retries', max_retries, 'created_ms', now_ms)
  if timeout_ms ~= '0' then redis.call('HSET', task_key, 'timeout_ms', timeout_ms) end
  if idem ~= '' then redis.call('HSET', task_key, 'idem', idem) end
  if state == 'scheduled' then
    redis.call('ZADD', keys.scheduled, eta_ms, id)
    redis.call('HSET', task_key, 'eligible_ms', eta_ms)
  else
    queued_pairs[#queued_pairs + 1] = score(priority, seq)
    queued_pairs[#queued_pairs + 1] = id
  end
  return state
end

-- create_task for a task with the usual options (priority 0, no timeout, no eta, no
-- idempotency key): the same record, queued, without the checks and the function's other
-- arguments, which cost a bulk submit about 1 us a task.
local function create_usual(task_prefix, queued_pairs, seq, now_ms, id, task_type, payload,
                            max_retries)
  redis.call('HSET', task_prefix .. id, 'type', task_type, 'payload', payload, 'priority', '0',
    'state', 'queued', 'max_retries', max_retries, 'created_ms', now_ms)
  local n = #queued_pairs
  queued_pairs[n + 1] = score(0, seq)
  queued_pairs[n + 2] = id
end

-- Retention (BullMQ's removeOnComplete / removeOnFail): `index_key` is a ZSET of ended
-- records (id -> epoch ms it ended): the finished index or the dead-letter queue. Records
-- older than ttl_ms (0: any age) and, beyond the newest max_records (0: any number), the
-- oldest are deleted with their index entries. At most RETENTION_TRIM_BATCH (or twice what
-- this call added, `added`) go per call, more than it adds, so an index over its bounds
-- converges to them while no call runs long.
local function trim_retained(index_key, task_prefix, now_ms, ttl_ms, max_records, added)
  local batch = math.max(RETENTION_TRIM_BATCH, 2 * (added or 1))
  local gone = {}
  if ttl_ms > 0 then
    gone = redis.call('ZRANGEBYSCORE', index_key, '-inf', tonumber(now_ms) - ttl_ms,
      'LIMIT', 0, batch)
  end
  if max_records > 0 then
    local excess = redis.call('ZCARD', index_key) - #gone - max_records
    if excess > 0 then
      if excess > batch then excess = batch end
      -- The oldest after those already going (ZRANGEBYSCORE took the lowest ranks).
      for _, id in ipairs(redis.call('ZRANGE', index_key, #gone, #gone + excess - 1)) do
        gone[#gone + 1] = id
      end
    end
  end
  for i = 1, #gone, 4000 do  -- unpack() is bounded by the Lua C stack
    local ids, keys = {}, {}
    for j = i, math.min(i + 3999, #gone) do
      ids[#ids + 1] = gone[j]
      keys[#keys + 1] = task_prefix .. gone[j]
    end
    redis.call('ZREM', index_key, unpack(ids))
    redis.call('DEL', unpack(keys))
  end
end

-- Record succeeded / cancelled tasks in the finished index and apply the queue's retention
-- to it. Each record also expires by itself (PEXPIRE in finish()); the index bounds their
-- number and says how many are stored (``taskq_queue_finished_records``).
local function retain_finished(finished_key, task_prefix, ids, now_ms, ttl_ms, max_records)
  if #ids == 0 then return end
  local pairs_ = {}
  for _, id in ipairs(ids) do
    pairs_[#pairs_ + 1] = now_ms
    pairs_[#pairs_ + 1] = id
  end
  zadd_pairs(finished_key, pairs_)
  trim_retained(finished_key, task_prefix, now_ms, ttl_ms, max_records, #ids)
end
