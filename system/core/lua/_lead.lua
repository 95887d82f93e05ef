-- One lease of a queue's singleton duty, pasted by the loader in place of
-- `-- @include _lead` (Redis has no include): leader.lua takes, keeps or gives up one,
-- leader_many.lua several in one call. What a lease and its fencing token mean is told in
-- leader.lua.
--
-- free_key: the duty's leader free LIST, or nil (no one waits on it). lease_ms: a string
-- (ARGV); '0' gives the lease up if the candidate holds it. Returns token, wait ms (see
-- leader.lua).
local function lead(leader_key, meta_key, free_key, candidate, lease_ms)
  local holder = redis.call('HGET', leader_key, 'holder')
  if lease_ms == '0' then
    if holder == candidate then
      redis.call('DEL', leader_key)
      if free_key and redis.call('LLEN', free_key) == 0 then redis.call('RPUSH', free_key, '1') end
    end
    return 0, 0
  end
  if holder == candidate then
    redis.call('PEXPIRE', leader_key, lease_ms)
    return tonumber(redis.call('HGET', leader_key, 'token')), 0
  end
  if holder then return 0, math.max(redis.call('PTTL', leader_key), 0) end
  local token = redis.call('HINCRBY', meta_key, 'leader_token', 1)
  redis.call('HSET', leader_key, 'holder', candidate, 'token', token)
  redis.call('PEXPIRE', leader_key, lease_ms)
  return token, 0
end
