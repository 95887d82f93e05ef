-- breaker_acquire: may a worker run a task of this type now? The circuit breaker of one
-- (queue, task type), shared by every worker through this hash:
--   closed     run everything; outcomes are counted (breaker_record.lua)
--   open       run nothing until open_ms has passed, then turn half-open
--   half_open  let up to `probes` tasks run at once; their outcomes close or reopen it
-- A half-open breaker whose probes never report (their worker died) allows new probes
-- after another open_ms.
--
-- KEYS[1]  breaker HASH: state, opened_ms, probing (in flight), probe_ms (half-open since)
-- ARGV[1]  now, epoch ms
-- ARGV[2]  open duration, ms
-- ARGV[3]  probes allowed at once in half-open
-- Returns  {allowed 1/0, state, retry_at_ms (when denied: when to try again)}
local now, open_ms, probes = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local f = redis.call('HMGET', KEYS[1], 'state', 'opened_ms', 'probing', 'probe_ms')
local state = f[1] or 'closed'
if state == 'closed' then return {1, state, 0} end
if state == 'open' then
  local reopen = tonumber(f[2]) + open_ms
  if now < reopen then return {0, state, reopen} end
  state = 'half_open'
  redis.call('HSET', KEYS[1], 'state', state, 'probing', 0, 'successes', 0, 'probe_ms', now)
  f[3], f[4] = '0', tostring(now)
end
local probing = tonumber(f[3] or '0')
if now - tonumber(f[4] or now) >= open_ms then  -- probes lost: start probing afresh
  probing = 0
  redis.call('HSET', KEYS[1], 'probing', 0, 'probe_ms', now)
end
if probing < probes then
  redis.call('HINCRBY', KEYS[1], 'probing', 1)
  return {1, state, 0}
end
return {0, state, now + math.min(1000, open_ms)}
