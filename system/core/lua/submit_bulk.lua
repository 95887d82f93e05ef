-- submit_bulk: create many tasks in one call (one round trip per batch).
--
-- KEYS[1]  queued ZSET
-- KEYS[2]  scheduled ZSET
-- KEYS[3]  meta HASH
-- KEYS[4]  wake LIST
-- KEYS[5]  task key prefix (the id is appended)
-- KEYS[6]  idempotency key prefix (the key is appended)
-- ARGV[1]  now, epoch ms
-- ARGV[2]  idempotency key TTL, ms
-- ARGV[3..] 8 fields per task: id, type, payload (JSON text), priority (0..255),
--          max retries, timeout ms (0 = none), eta epoch ms (0 = now), idempotency key ('' = none)
-- Returns  flat {task id, 1 if created else 0, state, ...} in input order; a known
--          idempotency key yields the existing task's id, 0 and its state.
-- @include _lib
local keys = {queued = KEYS[1], scheduled = KEYS[2], meta = KEYS[3], task_prefix = KEYS[5]}
local now_ms, idem_ttl_ms = ARGV[1], ARGV[2]
local out, queued = {}, 0
local function emit(id, created, state)
  out[#out + 1] = id
  out[#out + 1] = created
  out[#out + 1] = state
end

for i = 3, #ARGV, 8 do
  local id, idem = ARGV[i], ARGV[i + 7]
  local existing = false
  if idem ~= '' then
    existing = redis.call('GET', KEYS[6] .. idem)
    if not existing then redis.call('SET', KEYS[6] .. idem, id, 'PX', idem_ttl_ms) end
  end
  if existing then
    emit(existing, 0, redis.call('HGET', KEYS[5] .. existing, 'state') or 'expired')
  else
    local state = create_task(keys, now_ms, id, ARGV[i + 1], ARGV[i + 2], ARGV[i + 3],
      ARGV[i + 4], ARGV[i + 5], ARGV[i + 6], idem)
    if state == 'queued' then queued = queued + 1 end
    emit(id, 1, state)
  end
end
wake(KEYS[4], queued)
return out
