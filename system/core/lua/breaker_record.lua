-- breaker_record: count one outcome of a task type that has a circuit breaker, and move
-- the breaker (see breaker_acquire.lua for the states):
--   closed     outcomes are counted over a tumbling window; with at least min_calls in
--              it and a failure ratio at or above the threshold, it opens
--   half_open  a failed probe reopens it; `probes` successful probes close it
--   open       outcomes of tasks started before it opened are ignored
--
-- KEYS[1]  breaker HASH: state, window_ms (window start), calls, failures, opened_ms,
--          probing, successes, opens (times it opened)
-- KEYS[2]  breakers SET of the queue (task types that have a breaker, for listing)
-- ARGV[1]  now, epoch ms
-- ARGV[2]  1 succeeded, 0 failed
-- ARGV[3]  task type (the member of KEYS[2])
-- ARGV[4]  window, ms
-- ARGV[5]  minimum calls in the window before it may open
-- ARGV[6]  failure ratio that opens it, 0..1
-- ARGV[7]  successful probes that close it
-- Returns  {state, opened_ms}
local now, ok = tonumber(ARGV[1]), ARGV[2] == '1'
local window_ms, min_calls = tonumber(ARGV[4]), tonumber(ARGV[5])
local ratio, probes = tonumber(ARGV[6]), tonumber(ARGV[7])
redis.call('SADD', KEYS[2], ARGV[3])
local f = redis.call('HMGET', KEYS[1], 'state', 'window_ms', 'calls', 'failures', 'opened_ms',
  'successes')
local state = f[1] or 'closed'
local opened = tonumber(f[5] or '0')

local function open()
  state, opened = 'open', now
  redis.call('HSET', KEYS[1], 'state', state, 'opened_ms', now, 'probing', 0)
  redis.call('HINCRBY', KEYS[1], 'opens', 1)
end

if state == 'closed' then
  local start, calls, failures = tonumber(f[2] or '0'), tonumber(f[3] or '0'), tonumber(f[4] or '0')
  if now - start >= window_ms then start, calls, failures = now, 0, 0 end
  calls = calls + 1
  if not ok then failures = failures + 1 end
  redis.call('HSET', KEYS[1], 'state', state, 'window_ms', start, 'calls', calls,
    'failures', failures)
  if calls >= min_calls and failures >= ratio * calls then open() end
elseif state == 'half_open' then
  if redis.call('HINCRBY', KEYS[1], 'probing', -1) < 0 then
    redis.call('HSET', KEYS[1], 'probing', 0)
  end
  if not ok then
    open()
  elseif redis.call('HINCRBY', KEYS[1], 'successes', 1) >= probes then
    state = 'closed'
    redis.call('HSET', KEYS[1], 'state', state, 'window_ms', now, 'calls', 0, 'failures', 0)
  end
end
return {state, opened}
