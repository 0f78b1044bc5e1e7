//! The Lua scripts the Redis store runs: each one is one round trip and atomic.

/// Sets every key to the server's time in microseconds, for `ARGV[1]` milliseconds: the marks an
/// invalidation leaves for writes that began before it (see `WRITE`).
pub(crate) const MARK: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local set = 0
for _, key in ipairs(KEYS) do
  local reply = redis.pcall('SET', key, now, 'PX', ARGV[1])
  if type(reply) == 'table' and reply.ok then set = set + 1 end
end
return set
";

/// A guarded write, all or nothing. KEYS: the guard's marks (`ARGV[1]` of them), then per write
/// its key and its index sets. ARGV: the number of marks, the server time (µs) before the value
/// began to be computed, the marks' lifetime (µs), the number of writes, then per write: value,
/// TTL (ms), number of index sets, index TTL (ms). Refused (0) when a mark was set at or after
/// that time, or when it is too long ago for the marks to tell. Index memberships go before the
/// entry: Redis checks `maxmemory` before each write command, so a write cut short leaves a
/// member without an entry (harmless), never an entry that no invalidation can reach.
pub(crate) const WRITE: &str = r"
local marks = tonumber(ARGV[1])
if marks > 0 then
  local began = tonumber(ARGV[2])
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
  if now - began >= tonumber(ARGV[3]) then return 0 end
  for i = 1, marks do
    local at = redis.call('GET', KEYS[i])
    if at and tonumber(at) >= began then return 0 end
  end
end
local k, a = marks + 1, 5
for _ = 1, tonumber(ARGV[4]) do
  local key, sets = KEYS[k], tonumber(ARGV[a + 2])
  for s = 1, sets do
    redis.call('SADD', KEYS[k + s], key)
    redis.call('PEXPIRE', KEYS[k + s], ARGV[a + 3], 'NX')
    redis.call('PEXPIRE', KEYS[k + s], ARGV[a + 3], 'GT')
  end
  redis.call('SET', key, ARGV[a], 'PX', ARGV[a + 1])
  k = k + 1 + sets
  a = a + 4
end
return 1
";

/// Deletes the lease only if the caller's token still holds it.
pub(crate) const UNLOCK: &str = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end";
