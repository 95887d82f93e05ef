-- complete: record the outcome of tasks that ended without error (a batch per call).
--
-- KEYS[1]  running ZSET
-- KEYS[2]  meta HASH (counters)
-- KEYS[3]  task key prefix (the id is appended)
-- KEYS[4]  done stream prefix (the id is appended)
-- KEYS[5]  rate HASH (tasks ended per RATE_BUCKET_MS bucket)
-- KEYS[6]  finished ZSET (id -> epoch ms ended; the retention index)
-- ARGV[1]  now, epoch ms
-- ARGV[2]  result TTL, ms (0 = keep)
-- ARGV[3]  JSON array with one array of 4 strings per task: id, fencing token,
--          state ('succeeded' or 'cancelled'), result JSON text (for 'cancelled': the reason)
-- ARGV[4]  most finished records the queue keeps (0 = no limit; see trim_retained)
-- Returns  one CompleteReply per task: APPLIED; STALE_LEASE (the token is no longer
--          current: the completion is rejected and counted, never applied)
local now_ms, ttl_ms = ARGV[1], tonumber(ARGV[2])
-- @include _lib
local codes, removed = {}, {}
local succeeded, cancelled, stale = 0, 0, 0
for _, c in ipairs(cjson.decode(ARGV[3])) do
  local id, state = c[1], c[3]
  local task_key = KEYS[3] .. id
  local f = redis.call('HMGET', task_key, 'state', 'token')
  if f[1] == 'running' and f[2] == c[2] then
    removed[#removed + 1] = id
    if state == 'succeeded' then
      finish(task_key, KEYS[4] .. id, state, now_ms, ttl_ms, 'result', c[4])
      succeeded = succeeded + 1
    else
      finish(task_key, KEYS[4] .. id, state, now_ms, ttl_ms, 'error', c[4])
      cancelled = cancelled + 1
    end
    codes[#codes + 1] = CompleteReply.APPLIED
  else
    stale = stale + 1
    codes[#codes + 1] = CompleteReply.STALE_LEASE
  end
end
for i = 1, #removed, 4000 do
  redis.call('ZREM', KEYS[1], unpack(removed, i, math.min(i + 3999, #removed)))
end
retain_finished(KEYS[6], KEYS[3], removed, now_ms, ttl_ms, tonumber(ARGV[4]))
if succeeded > 0 then redis.call('HINCRBY', KEYS[2], 'succeeded', succeeded) end
if cancelled > 0 then redis.call('HINCRBY', KEYS[2], 'cancelled', cancelled) end
if stale > 0 then redis.call('HINCRBY', KEYS[2], 'stale_rejected', stale) end
count_finished(KEYS[5], now_ms, succeeded + cancelled)
return codes
