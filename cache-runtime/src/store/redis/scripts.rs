//! The Lua scripts the Redis store runs: each one is one round trip and atomic.

/// A conditioned write, all or nothing (see `generation`). KEYS: the keys written. ARGV: per
/// key, what it must hold (`u`: anything, `n`: nothing, `b`: the bytes that follow), those
/// bytes (empty otherwise), the value and the TTL in milliseconds. Refused (0) when a key does
/// not hold what its write expects. A key of another type than string (never one of ours, nor a
/// tombstone) counts as nothing, and is overwritten.
pub(crate) const WRITE: &str = r"
for i = 1, #KEYS do
  local a = (i - 1) * 4 + 1
  local kind = ARGV[a]
  if kind ~= 'u' then
    local current = false
    if redis.call('TYPE', KEYS[i])['ok'] == 'string' then
      current = redis.call('GET', KEYS[i])
    end
    if kind == 'n' then
      if current then return 0 end
    elseif current ~= ARGV[a + 1] then
      return 0
    end
  end
end
for i = 1, #KEYS do
  local a = (i - 1) * 4 + 1
  redis.call('SET', KEYS[i], ARGV[a + 2], 'PX', ARGV[a + 3])
end
return 1
";

/// Draws a new token for a generation key (`KEYS[1]`) or one line of it. ARGV: the line's name
/// (empty: the generation itself, which drops every line), the token, and the lifetime of a
/// key created here in milliseconds (`0`: none). An existing key keeps its expiry.
pub(crate) const BUMP: &str = r"
local blob = redis.call('GET', KEYS[1])
if not blob then
  if ARGV[3] == '0' then
    redis.call('SET', KEYS[1], ARGV[2])
  else
    redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
  end
  return 1
end
if ARGV[1] == '' then
  redis.call('SET', KEYS[1], ARGV[2], 'KEEPTTL')
  return 1
end
local head = '\n' .. ARGV[1] .. ' '
local s = string.find(blob, head, 1, true)
if s then
  local e = string.find(blob, '\n', s + 1, true)
  blob = string.sub(blob, 1, s - 1) .. (e and string.sub(blob, e) or '')
end
redis.call('SET', KEYS[1], blob .. head .. ARGV[2], 'KEEPTTL')
return 1
";

/// Deletes the lease only if the caller's token still holds it.
pub(crate) const UNLOCK: &str = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end";
