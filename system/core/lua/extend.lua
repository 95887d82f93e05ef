-- extend: a worker's heartbeat for the tasks it holds; renews each lease it still owns.
--
-- KEYS[1]  running ZSET (score: lease deadline, epoch ms)
-- KEYS[2]  task key prefix (the id is appended)
-- ARGV[1]  now, epoch ms
-- ARGV[2]  lease duration, ms
-- ARGV[3..] pairs: task id, fencing token
-- Returns  {lost ids, cancel-requested ids}: a lost task's lease was taken away (expired and
--          reclaimed, or the task was cancelled) so the worker must drop it; a
--          cancel-requested task is still leased and should stop cooperatively.
local deadline = tonumber(ARGV[1]) + tonumber(ARGV[2])
local lost, cancel = {}, {}
for i = 3, #ARGV, 2 do
  local id = ARGV[i]
  local f = redis.call('HMGET', KEYS[2] .. id, 'state', 'token', 'cancel')
  if f[1] == 'running' and f[2] == ARGV[i + 1] then
    redis.call('ZADD', KEYS[1], 'XX', deadline, id)
    if f[3] then cancel[#cancel + 1] = id end
  else
    lost[#lost + 1] = id
  end
end
return {lost, cancel}
