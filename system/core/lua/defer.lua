-- defer: a worker hands back a claimed task it must not run yet (its task type's circuit
-- breaker is open). It waits in the scheduled set until the given time; the attempt it
-- was claimed with is not counted, so deferral never uses up retries.
--
-- KEYS[1]  running ZSET
-- KEYS[2]  scheduled ZSET (score: eligible epoch ms)
-- KEYS[3]  meta HASH (counters)
-- KEYS[4]  task HASH
-- KEYS[5]  leader wake LIST (woken when the task is the earliest delayed one)
-- ARGV[1]  task id
-- ARGV[2]  fencing token
-- ARGV[3]  epoch ms the task becomes eligible again
-- Returns  DeferReply: DEFERRED; STALE_LEASE (another worker owns it now: nothing done)
-- @include _lib
local id, until_ms = ARGV[1], ARGV[3]
local f = redis.call('HMGET', KEYS[4], 'state', 'token')
if f[1] ~= 'running' or f[2] ~= ARGV[2] then return DeferReply.STALE_LEASE end
redis.call('ZREM', KEYS[1], id)
redis.call('HINCRBY', KEYS[4], 'attempts', -1)
redis.call('HDEL', KEYS[4], 'token', 'worker', 'started_ms')
redis.call('HSET', KEYS[4], 'state', 'scheduled', 'eligible_ms', until_ms)
redis.call('ZADD', KEYS[2], until_ms, id)
redis.call('HINCRBY', KEYS[3], 'deferred', 1)
scheduled_first(KEYS[2], KEYS[5], until_ms)
return DeferReply.DEFERRED
