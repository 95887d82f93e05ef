-- complete: record the outcome of tasks that ended without error (a batch per call).
--
-- KEYS[1]  running ZSET
-- KEYS[2]  meta HASH (counters)
-- KEYS[3]  task key prefix (the id is appended)
-- KEYS[4]  done stream prefix (the id is appended)
-- ARGV[1]  now, epoch ms
-- ARGV[2]  result TTL, ms (0 = keep)
-- ARGV[3..] 4 fields per task: id, fencing token, state ('succeeded' or 'cancelled'),
--          result JSON text (for 'cancelled': the reason)
-- Returns  one code per task: 1 applied; -1 stale lease (token no longer current: the
--          completion is rejected and counted, never applied)
local now_ms, ttl_ms = ARGV[1], tonumber(ARGV[2])
-- @include _lib
local codes, succeeded, cancelled, stale = {}, 0, 0, 0
for i = 3, #ARGV, 4 do
  local id, state = ARGV[i], ARGV[i + 2]
  local task_key = KEYS[3] .. id
  local f = redis.call('HMGET', task_key, 'state', 'token')
  if f[1] == 'running' and f[2] == ARGV[i + 1] then
    redis.call('ZREM', KEYS[1], id)
    if state == 'succeeded' then
      redis.call('HSET', task_key, 'result', ARGV[i + 3])
      succeeded = succeeded + 1
    else
      redis.call('HSET', task_key, 'error', ARGV[i + 3])
      cancelled = cancelled + 1
    end
    finish(task_key, KEYS[4] .. id, state, now_ms, ttl_ms)
    codes[#codes + 1] = 1
  else
    stale = stale + 1
    codes[#codes + 1] = -1
  end
end
if succeeded > 0 then redis.call('HINCRBY', KEYS[2], 'succeeded', succeeded) end
if cancelled > 0 then redis.call('HINCRBY', KEYS[2], 'cancelled', cancelled) end
if stale > 0 then redis.call('HINCRBY', KEYS[2], 'stale_rejected', stale) end
return codes
