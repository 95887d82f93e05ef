-- claim: take up to N queued tasks for one worker, each with a lease and a fencing token.
--
-- KEYS[1]  queued ZSET
-- KEYS[2]  running ZSET (score: lease deadline, epoch ms)
-- KEYS[3]  meta HASH (paused flag, fencing token counter)
-- KEYS[4]  task key prefix (the id is appended)
-- KEYS[5]  alive ZSET (worker id -> last liveness beat, Redis time ms): the claimer joins it
-- KEYS[6]  wake LIST: when tasks are left after this claim, one more idle worker is woken
-- KEYS[7]  leader wake LIST: the leader is woken when a worker joins the alive set
-- ARGV[1]  now, epoch ms
-- ARGV[2]  lease duration, ms
-- ARGV[3]  maximum number of tasks to claim
-- ARGV[4]  worker id
-- Returns  flat list, 8 fields per claimed task: id, token, type, payload, attempts,
--          max retries, timeout ms, eligible epoch ms. Empty when the queue is empty or paused.
-- @include _lib
if redis.call('HEXISTS', KEYS[3], 'paused') == 1 then return {} end

local popped = redis.call('ZPOPMIN', KEYS[1], ARGV[3])
local n = #popped / 2
if n == 0 then return {} end

-- Work is left: wake another idle worker (one submit of many tasks pushes only a few
-- tokens, so each claim that leaves work behind passes the wake-up on).
if redis.call('ZCARD', KEYS[1]) > 0 then wake(KEYS[6], 1) end

local now_ms, worker = ARGV[1], ARGV[4]
local deadline = tonumber(now_ms) + tonumber(ARGV[2])
-- Reserve n consecutive fencing tokens with one increment.
local first_token = redis.call('HINCRBY', KEYS[3], 'token', n) - n + 1
local out, leases = {}, {}

for i = 1, n do
  local id = popped[2 * i - 1]
  local task_key = KEYS[4] .. id
  local f = redis.call('HMGET', task_key, 'type', 'payload', 'max_retries', 'timeout_ms',
    'eligible_ms', 'attempts', 'created_ms')
  if f[1] then
    local token = first_token + i - 1
    local attempts = (tonumber(f[6]) or 0) + 1
    redis.call('HSET', task_key, 'state', 'running', 'token', token, 'worker', worker,
      'started_ms', now_ms, 'attempts', attempts)
    leases[#leases + 1] = deadline
    leases[#leases + 1] = id
    local base = #out
    out[base + 1] = id
    out[base + 2] = token
    out[base + 3] = f[1]
    out[base + 4] = f[2]
    out[base + 5] = attempts
    out[base + 6] = f[3]
    out[base + 7] = f[4] or 0
    out[base + 8] = f[5] or f[7]
  else
    -- An id without a record cannot be run; count it instead of failing the whole claim.
    redis.call('HINCRBY', KEYS[3], 'orphans', 1)
  end
end
if #leases > 0 then
  zadd_pairs(KEYS[2], leases)
  -- From now on the reaper judges these leases by the worker's liveness beat (beat.lua).
  if redis.call('ZADD', KEYS[5], server_ms(), worker) == 1 then wake_leader(KEYS[7]) end
end
return out
