//! [`Direct`] on Redis: one command, pipeline or script per operation, each under the breaker
//! and the deadlines of every other command ([`RedisStore::run`]): reads within the operation
//! timeout, writes within the write timeout.

use std::time::Duration;

use bytes::Bytes;

use super::{glob_escape_into, RedisStore};
use crate::store::direct::{Counted, Direct};
use crate::store::{millis, StoreFuture};

/// Compare-and-set: KEYS[1]; ARGV: `1` when a value is expected (`0`: the key must not exist),
/// the expected value, the new value, the TTL (ms) of a key that did not exist. An existing key
/// keeps its TTL.
const COMPARE_AND_SET: &str = r"
local current = redis.call('GET', KEYS[1])
if ARGV[1] == '1' then
  if current ~= ARGV[2] then return 0 end
elseif current then
  return 0
end
if current then
  redis.call('SET', KEYS[1], ARGV[3], 'KEEPTTL')
else
  redis.call('SET', KEYS[1], ARGV[3], 'PX', ARGV[4])
end
return 1
";

/// Most `SCAN` pages read for one listing, so that a listing over a huge keyspace with few
/// matches ends.
const MAX_PAGES: usize = 1024;

/// `PTTL`'s answer as a duration: `None` for a missing key (-2) or one without expiry (-1).
fn pttl(reply: i64) -> Option<Duration> {
    u64::try_from(reply).ok().map(Duration::from_millis)
}

/// The `SCAN MATCH` glob of `prefix` then `pattern`: every glob character escaped but the
/// pattern's `*`.
fn glob(prefix: &str, pattern: &str) -> String {
    let mut glob = String::with_capacity(prefix.len() + pattern.len() + 8);
    glob_escape_into(&mut glob, prefix);
    for (i, part) in pattern.split('*').enumerate() {
        if i > 0 {
            glob.push('*');
        }
        glob_escape_into(&mut glob, part);
    }
    glob
}

impl RedisStore {
    async fn count(
        &self,
        key: &str,
        window: Duration,
        peek: Option<&str>,
    ) -> Result<Counted, crate::store::StoreError> {
        let window = millis(window);
        self.run(self.write_timeout, |mut connection| async move {
            let mut pipe = redis::pipe();
            pipe.cmd("INCR").arg(key);
            pipe.cmd("PEXPIRE").arg(key).arg(window).arg("NX").ignore();
            pipe.cmd("PTTL").arg(key);
            match peek {
                Some(peek) => {
                    pipe.cmd("GET").arg(peek);
                    let (count, reset, peeked) = pipe
                        .query_async::<(u64, i64, Option<u64>)>(&mut connection)
                        .await?;
                    Ok((count, reset, peeked.unwrap_or(0)))
                }
                None => {
                    let (count, reset) = pipe.query_async::<(u64, i64)>(&mut connection).await?;
                    Ok((count, reset, 0))
                }
            }
        })
        .await
        .map(|(count, reset, peeked)| Counted {
            count,
            reset: pttl(reset).unwrap_or(Duration::ZERO),
            peeked,
        })
    }

    async fn list(
        &self,
        prefix: &str,
        pattern: &str,
        limit: usize,
    ) -> Result<Vec<String>, crate::store::StoreError> {
        let glob = glob(prefix, pattern);
        let mut found = Vec::new();
        for node in self.nodes().await? {
            let mut cursor: u64 = 0;
            for _ in 0..MAX_PAGES {
                let (next, keys) = self.scan_page(&node, cursor, &glob).await?;
                found.extend(keys);
                cursor = next;
                if cursor == 0 || found.len() >= limit {
                    break;
                }
            }
        }
        found.sort();
        found.dedup();
        found.truncate(limit);
        Ok(found)
    }
}

impl Direct for RedisStore {
    fn probe(&self) -> StoreFuture<'_, ()> {
        Box::pin(self.ping())
    }

    fn fetch<'a>(&'a self, key: &'a str) -> StoreFuture<'a, Option<Bytes>> {
        Box::pin(async move {
            self.run(self.operation_timeout, |mut connection| async move {
                redis::cmd("GET")
                    .arg(key)
                    .query_async::<Option<Vec<u8>>>(&mut connection)
                    .await
            })
            .await
            .map(|value| value.map(Bytes::from))
        })
    }

    fn replace<'a>(&'a self, key: &'a str, value: Bytes, ttl: Duration) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let value = &value[..];
            self.run(self.write_timeout, |mut connection| async move {
                redis::cmd("SET")
                    .arg(key)
                    .arg(value)
                    .arg("PX")
                    .arg(millis(ttl))
                    .query_async::<()>(&mut connection)
                    .await
            })
            .await
        })
    }

    fn discard<'a>(&'a self, key: &'a str) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            self.run(self.write_timeout, |mut connection| async move {
                redis::cmd("UNLINK")
                    .arg(key)
                    .query_async::<u64>(&mut connection)
                    .await
            })
            .await
            .map(|deleted| deleted > 0)
        })
    }

    fn exists<'a>(&'a self, key: &'a str) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            self.run(self.operation_timeout, |mut connection| async move {
                redis::cmd("EXISTS")
                    .arg(key)
                    .query_async::<u64>(&mut connection)
                    .await
            })
            .await
            .map(|found| found > 0)
        })
    }

    fn remaining<'a>(&'a self, key: &'a str) -> StoreFuture<'a, Option<Duration>> {
        Box::pin(async move {
            self.run(self.operation_timeout, |mut connection| async move {
                redis::cmd("PTTL")
                    .arg(key)
                    .query_async::<i64>(&mut connection)
                    .await
            })
            .await
            .map(pttl)
        })
    }

    fn extend<'a>(&'a self, key: &'a str, ttl: Duration) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            self.run(self.write_timeout, |mut connection| async move {
                redis::cmd("PEXPIRE")
                    .arg(key)
                    .arg(millis(ttl))
                    .query_async::<u64>(&mut connection)
                    .await
            })
            .await
            .map(|set| set == 1)
        })
    }

    fn compare_and_set<'a>(
        &'a self,
        key: &'a str,
        expected: Option<&'a [u8]>,
        value: Bytes,
        ttl: Duration,
    ) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            let value = &value[..];
            self.run(self.write_timeout, |mut connection| async move {
                redis::cmd("EVAL")
                    .arg(COMPARE_AND_SET)
                    .arg(1)
                    .arg(key)
                    .arg(if expected.is_some() { "1" } else { "0" })
                    .arg(expected.unwrap_or_default())
                    .arg(value)
                    .arg(millis(ttl))
                    .query_async::<u64>(&mut connection)
                    .await
            })
            .await
            .map(|set| set == 1)
        })
    }

    fn increment<'a>(
        &'a self,
        key: &'a str,
        window: Duration,
        peek: Option<&'a str>,
    ) -> StoreFuture<'a, Counted> {
        Box::pin(self.count(key, window, peek))
    }

    fn scan<'a>(
        &'a self,
        prefix: &'a str,
        pattern: &'a str,
        limit: usize,
    ) -> StoreFuture<'a, Vec<String>> {
        Box::pin(self.list(prefix, pattern, limit))
    }
}

#[cfg(test)]
mod tests {
    use super::glob;

    #[test]
    fn only_the_patterns_star_stays_a_wildcard() {
        assert_eq!(glob("v1:_:", "a*b?[c]\\"), r"v1:_:a*b\?\[c\]\\");
        assert_eq!(glob("v1:t=a*:", "*"), r"v1:t=a\*:*");
    }
}
