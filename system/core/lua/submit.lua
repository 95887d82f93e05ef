-- submit: create one task, or return the existing one for a known idempotency key.
--
-- KEYS[1]  queued ZSET
-- KEYS[2]  scheduled ZSET
-- KEYS[3]  meta HASH
-- KEYS[4]  wake LIST
-- KEYS[5]  task key prefix (the id is appended)
-- KEYS[6]  leader wake LIST (woken when the task is the earliest delayed one)
-- KEYS[7]  idempotency key STRING (only when ARGV[9] is not empty)
-- ARGV[1]  now, epoch ms
-- ARGV[2]  task id
-- ARGV[3]  task type
-- ARGV[4]  payload, JSON text
-- ARGV[5]  priority, 0..255 (higher runs first)
-- ARGV[6]  max retries
-- ARGV[7]  timeout, ms (0 = none)
-- ARGV[8]  eta, epoch ms (0 or past = now)
-- ARGV[9]  idempotency key ('' = none)
-- ARGV[10] idempotency key TTL, ms
-- Returns  {task id, 1 if created else 0, state}
-- @include _lib
local keys = {scheduled = KEYS[2], task_prefix = KEYS[5]}
local now_ms, id, idem = ARGV[1], ARGV[2], ARGV[9]

if idem ~= '' then
  local existing = redis.call('GET', KEYS[7])
  if existing then
    local state = redis.call('HGET', KEYS[5] .. existing, 'state')
    return {existing, 0, state or 'expired'}
  end
  redis.call('SET', KEYS[7], id, 'PX', ARGV[10])
end

local queued_pairs = {}
local seq = redis.call('HINCRBY', KEYS[3], 'seq', 1)
local state = create_task(keys, queued_pairs, seq, now_ms, id, ARGV[3], ARGV[4], ARGV[5],
  ARGV[6], ARGV[7], ARGV[8], idem)
if state == 'queued' then
  redis.call('ZADD', KEYS[1], unpack(queued_pairs))
  wake(KEYS[4], 1)
else
  scheduled_first(KEYS[2], KEYS[6], ARGV[8])
end
return {id, 1, state}
