-- oldest_queued: the queued task that has waited longest (read only).
-- The queued ZSET is ordered by priority first, so the longest-waiting task is the one
-- with the lowest FIFO sequence among the first members of each priority band. This
-- visits one member per priority level present, not every task.
--
-- KEYS[1]  queued ZSET (score: (MAX_PRIORITY - priority) * SEQ_SPAN + sequence, see _lib)
-- Returns  the task id, or false when the queue is empty
-- @include _lib
local best_id, best_seq = false, nil
local head = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
while #head > 0 do
  local head_score = tonumber(head[2])
  local band = math.floor(head_score / SEQ_SPAN)
  local seq = head_score - band * SEQ_SPAN
  if best_seq == nil or seq < best_seq then best_id, best_seq = head[1], seq end
  head = redis.call('ZRANGEBYSCORE', KEYS[1], string.format('%.0f', (band + 1) * SEQ_SPAN),
    '+inf', 'WITHSCORES', 'LIMIT', 0, 1)
end
return best_id
