-- leader_many: leader.lua for the maintenance of several queues in one call, so a worker
-- renews the leases it holds (and asks for those it waits for) with one command per half
-- lease whatever the number of its queues. Each queue keeps its own lease and fencing
-- token: one call answers for each queue alone, and a deposed leader's token is refused
-- (promote.lua, reap.lua) for the queues it lost only. Not on a Redis Cluster: the
-- queues' keys may live on different nodes (one leader.lua call per queue there).
--
-- KEYS     three per queue, as leader.lua's: leader HASH, meta HASH, leader free LIST
-- ARGV[1]  candidate (worker id)
-- ARGV[2]  lease, ms, for every queue; 0 gives up each lease the candidate holds
-- Returns  {token, wait ms, token, wait ms, ...}: leader.lua's reply for each queue, in
--          the order of KEYS
-- @include _lead
local out = {}
for i = 1, #KEYS, 3 do
  local token, wait_ms = lead(KEYS[i], KEYS[i + 1], KEYS[i + 2], ARGV[1], ARGV[2])
  out[#out + 1] = token
  out[#out + 1] = wait_ms
end
return out
