-- beat: a worker that holds tasks of this queue says it is alive (from a thread of its
-- own, so it keeps beating while a handler blocks the worker's event loop). The reaper
-- redelivers the tasks of a worker whose last beat is older than the detection window,
-- however long their leases still run.
--
-- KEYS[1]  alive ZSET (worker id -> last liveness beat, Redis time ms)
-- ARGV[1]  worker id
-- Returns  the beat's time, Redis time ms
-- @include _lib
local now = server_ms()
redis.call('ZADD', KEYS[1], now, ARGV[1])
return now
