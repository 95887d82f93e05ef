-- leader: take, keep or give up the lease of a queue's singleton duty. One worker at a time
-- runs a queue's maintenance (KEYS[1] = leader): it promotes due delayed tasks and
-- reclaims expired leases; one supervisor at a time autoscales it (KEYS[1] = autoscaler). Each new
-- leadership gets a larger fencing token; promote.lua and reap.lua refuse an old one, so
-- a deposed leader that still believes it leads (paused, cut off) changes nothing.
-- leader_many.lua does the same for the maintenance of several queues in one call.
--
-- KEYS[1]  leader HASH (holder, token); expires with the lease
-- KEYS[2]  meta HASH (leader_token: the counter outlives every lease)
-- KEYS[3]  (optional) leader free LIST: one token when the lease is given up, so a worker
--          waiting for it takes over at once instead of when it would have run out
-- ARGV[1]  candidate (worker id)
-- ARGV[2]  lease, ms; 0 gives the lease up if the candidate holds it
-- Returns  {token, wait ms}: the candidate's token while it leads; 0 and the ms left of
--          the holder's lease when another leads (so a candidate asks again only when it
--          could win); {0, 0} on resign
-- @include _lead
local token, wait_ms = lead(KEYS[1], KEYS[2], KEYS[3], ARGV[1], ARGV[2])
return {token, wait_ms}
