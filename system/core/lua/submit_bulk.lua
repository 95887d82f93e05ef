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
-- ARGV[3]  max retries of the tasks with the usual options (priority 0, no timeout, no eta,
--          no idempotency key)
-- ARGV[4]  the other tasks' options: '' (none), or a JSON array with one array of 6 strings
--          per such task: its position (1-based), priority (0..255), max retries, timeout ms
--          (0 = none), eta epoch ms (0 = now), idempotency key ('' = none)
-- ARGV[5.. ] 3 per task, in order: id, type, payload (JSON text). Separate arguments, not
--          one JSON document: decoding that cost about 1 us a task, these a third of it.
-- Returns  only the exceptions, so the reply stays small: flat {position (1-based), existing
--          task id, its state, ...} for each task whose idempotency key was already known
--          (that task was not created). Every other task was created: 'scheduled' when
--          its eta is in the future, else 'queued'.
-- @include _lib
local keys = {scheduled = KEYS[2], task_prefix = KEYS[5]}
local now_ms, idem_ttl_ms, usual_retries = ARGV[1], ARGV[2], ARGV[3]
local other = {}
if ARGV[4] ~= '' then
  for _, t in ipairs(cjson.decode(ARGV[4])) do other[tonumber(t[1])] = t end
end
local hits, queued_pairs = {}, {}
local first_eta = false  -- the earliest eta of the batch's delayed tasks
local n = (#ARGV - 4) / 3
-- Reserve one FIFO sequence number per task with a single increment.
local seq = redis.call('HINCRBY', KEYS[3], 'seq', n) - n
for pos = 1, n do
  local at = 3 * pos + 2  -- the task's id
  local id, t = ARGV[at], other[pos]
  local existing, idem = false, ''
  if t then
    idem = t[6]
    if idem ~= '' then
      existing = redis.call('GET', KEYS[6] .. idem)
      if not existing then redis.call('SET', KEYS[6] .. idem, id, 'PX', idem_ttl_ms) end
    end
  end
  if existing then
    hits[#hits + 1] = pos
    hits[#hits + 1] = existing
    hits[#hits + 1] = redis.call('HGET', KEYS[5] .. existing, 'state') or 'expired'
  elseif not t then
    seq = seq + 1
    create_usual(KEYS[5], queued_pairs, seq, now_ms, id, ARGV[at + 1], ARGV[at + 2],
      usual_retries)
  else
    seq = seq + 1
    local state = create_task(keys, queued_pairs, seq, now_ms, id, ARGV[at + 1], ARGV[at + 2],
      t[2], t[3], t[4], t[5], idem)
    if state == 'scheduled' and (not first_eta or tonumber(t[5]) < first_eta) then
      first_eta = tonumber(t[5])
    end
  end
end
zadd_pairs(KEYS[1], queued_pairs)
wake(KEYS[4], #queued_pairs / 2)
if first_eta then scheduled_first(KEYS[2], KEYS[7], first_eta) end
return hits
