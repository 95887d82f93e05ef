-- register_waiter: mark that a client waits for this task, so that the script that ends it
-- writes the task's done stream (see finish() in _lib.lua). Atomic with reading the state,
-- so no end can slip between the check and the mark.
--
-- KEYS[1]  task HASH
-- Returns  the task's state ('' if there is no such task); the mark is set only when the
--          state is not terminal
local state = redis.call('HGET', KEYS[1], 'state')
if not state then return '' end
if not TERMINAL[state] then
  redis.call('HINCRBY', KEYS[1], 'waiters', 1)
end
return state
