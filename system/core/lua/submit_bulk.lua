-- submit_bulk: create many tasks in one call (one round trip per batch).
--
-- KEYS[1]  queued ZSET
-- KEYS[2]  scheduled ZSET
-- KEYS[3]  meta HASH
-- KEYS[4]  wake LIST
-- KEYS[5]  task key prefix (the id is appended)
-- KEYS[6]  idempotency key prefix (the key is appended)
-- KEYS[7]  leader wake LIST (woken when the batch holds the earliest delayed task)
-- ARGV[1]  now, epoch ms
-- ARGV[2]  idempotency key TTL, ms
-- ARGV[3]  JSON array with one array of 8 strings per task: id, type, payload (JSON text),
--          priority (0..255), max retries, timeout ms (0 = none), eta epoch ms (0 = now),
--          idempotency key ('' = none); or of 3 (id, type, payload) for a task with the
--          usual options: priority 0, max retries ARGV[4], no timeout, no eta, no key
-- ARGV[4]  max retries of the tasks sent as 3 fields
-- Returns  only the exceptions, so the reply stays small: flat {position (1-based), existing
--          task id, its state, ...} for each task whose idempotency key was already known
--          (that task was not created). Every other task was created: 'scheduled' when
--          its eta is in the future, else 'queued'.
-- @include _lib
local keys = {scheduled = KEYS[2], task_prefix = KEYS[5]}
local now_ms, idem_ttl_ms = ARGV[1], ARGV[2]
local hits, queued_pairs = {}, {}
local first_eta = false  -- the earliest eta of the batch's delayed tasks
local tasks = cjson.decode(ARGV[3])
-- Reserve one FIFO sequence number per task with a single increment.
local seq = redis.call('HINCRBY', KEYS[3], 'seq', #tasks) - #tasks
local usual_retries = ARGV[4]
for pos, t in ipairs(tasks) do
  if #t == 3 then t[4], t[5], t[6], t[7], t[8] = '0', usual_retries, '0', '0', '' end
  local id, idem = t[1], t[8]
  local existing = false
  if idem ~= '' then
    existing = redis.call('GET', KEYS[6] .. idem)
    if not existing then redis.call('SET', KEYS[6] .. idem, id, 'PX', idem_ttl_ms) end
  end
  if existing then
    hits[#hits + 1] = pos
    hits[#hits + 1] = existing
    hits[#hits + 1] = redis.call('HGET', KEYS[5] .. existing, 'state') or 'expired'
  else
    seq = seq + 1
    local state = create_task(keys, queued_pairs, seq, now_ms, id, t[2], t[3], t[4], t[5],
      t[6], t[7], idem)
    if state == 'scheduled' and (not first_eta or tonumber(t[7]) < first_eta) then
      first_eta = tonumber(t[7])
    end
  end
end
zadd_pairs(KEYS[1], queued_pairs)
wake(KEYS[4], #queued_pairs / 2)
if first_eta then scheduled_first(KEYS[2], KEYS[7], first_eta) end
return hits
