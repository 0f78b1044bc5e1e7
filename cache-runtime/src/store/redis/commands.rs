//! The commands behind each [`Store`] operation on Redis: one round trip each where the
//! operation allows it (pipelines), under the breaker and the deadlines of [`RedisStore`].

use std::time::Duration;

use bytes::Bytes;

use super::{glob_escape_into, RedisStore, BATCH, UNLOCK};
use crate::breaker::BreakerState;
use crate::metrics::StoreStats;
use crate::store::{millis, Companion, Found, Local, Read, Store, StoreError, StoreFuture, Write};

impl RedisStore {
    async fn read(&self, key: &str, read: Read) -> Result<Option<Found>, StoreError> {
        if !read.remaining {
            let value = self
                .run(self.operation_timeout, |mut connection| async move {
                    redis::cmd("GET")
                        .arg(key)
                        .query_async::<Option<Vec<u8>>>(&mut connection)
                        .await
                })
                .await?;
            return Ok(value.map(|value| Found {
                value: Bytes::from(value),
                remaining: None,
                typed: None,
            }));
        }
        let (value, pttl) = self
            .run(self.operation_timeout, |mut connection| async move {
                redis::pipe()
                    .cmd("GET")
                    .arg(key)
                    .cmd("PTTL")
                    .arg(key)
                    .query_async::<(Option<Vec<u8>>, i64)>(&mut connection)
                    .await
            })
            .await?;
        Ok(value.map(|value| Found {
            value: Bytes::from(value),
            remaining: u64::try_from(pttl).ok().map(Duration::from_millis),
            typed: None,
        }))
    }

    async fn read_many(&self, keys: &[String]) -> Result<Vec<Option<Found>>, StoreError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let values = self
            .run(self.operation_timeout, |mut connection| async move {
                redis::cmd("MGET")
                    .arg(keys)
                    .query_async::<Vec<Option<Vec<u8>>>>(&mut connection)
                    .await
            })
            .await?;
        Ok(values
            .into_iter()
            .map(|value| {
                value.map(|value| Found {
                    value: Bytes::from(value),
                    remaining: None,
                    typed: None,
                })
            })
            .collect())
    }

    pub(crate) async fn write(&self, writes: &[Write]) -> Result<(), StoreError> {
        self.run(self.write_timeout, |mut connection| async move {
            let mut pipe = redis::pipe();
            for write in writes {
                // Index memberships first: Redis checks `maxmemory` before each command, so a
                // write cut short under memory pressure leaves a member without an entry
                // (harmless), never an entry that no invalidation can reach.
                if let Some(index) = &write.index {
                    let ttl = millis(index.ttl);
                    for set in &index.sets {
                        pipe.cmd("SADD").arg(set).arg(&write.key).ignore();
                        // The set lives as long as its longest-lived member.
                        pipe.cmd("PEXPIRE").arg(set).arg(ttl).arg("NX").ignore();
                        pipe.cmd("PEXPIRE").arg(set).arg(ttl).arg("GT").ignore();
                    }
                }
            }
            for write in writes {
                pipe.cmd("SET")
                    .arg(&write.key)
                    .arg(&write.value[..])
                    .arg("PX")
                    .arg(millis(write.ttl))
                    .ignore();
            }
            pipe.query_async::<()>(&mut connection).await
        })
        .await
    }

    async fn remove_prefix(&self, prefix: &str) -> Result<u64, StoreError> {
        let mut pattern = String::with_capacity(prefix.len() + 8);
        glob_escape_into(&mut pattern, prefix);
        pattern.push('*');
        let mut deleted = 0;
        for node in self.nodes() {
            let mut cursor: u64 = 0;
            loop {
                let pattern = pattern.as_str();
                let (next, keys) = self
                    .run_on(
                        node.clone(),
                        self.operation_timeout,
                        |mut node| async move {
                            redis::cmd("SCAN")
                                .arg(cursor)
                                .arg("MATCH")
                                .arg(pattern)
                                .arg("COUNT")
                                .arg(BATCH)
                                .query_async::<(u64, Vec<String>)>(&mut node)
                                .await
                        },
                    )
                    .await?;
                deleted += self.unlink(&keys, None).await?;
                cursor = next;
                if cursor == 0 {
                    break;
                }
            }
        }
        Ok(deleted)
    }

    async fn lease(&self, key: &str, token: &str, ttl: Duration) -> Result<bool, StoreError> {
        self.run(self.write_timeout, |mut connection| async move {
            redis::cmd("SET")
                .arg(key)
                .arg(token)
                .arg("NX")
                .arg("PX")
                .arg(millis(ttl))
                .query_async::<Option<String>>(&mut connection)
                .await
        })
        .await
        .map(|reply| reply.is_some())
    }

    async fn release(&self, key: &str, token: &str) -> Result<(), StoreError> {
        self.run(self.write_timeout, |mut connection| async move {
            redis::cmd("EVAL")
                .arg(UNLOCK)
                .arg(1)
                .arg(key)
                .arg(token)
                .query_async::<i64>(&mut connection)
                .await
                .map(drop)
        })
        .await
    }
}

impl Store for RedisStore {
    fn name(&self) -> &'static str {
        "redis"
    }

    fn breaker_state(&self) -> BreakerState {
        self.breaker.state()
    }

    fn stats(&self) -> StoreStats {
        self.server_stats()
    }

    fn get_local(&self, _: &str) -> Local {
        Local::Ask
    }

    fn get<'a>(&'a self, key: &'a str, read: Read) -> StoreFuture<'a, Option<Found>> {
        Box::pin(self.read(key, read))
    }

    fn get_many<'a>(&'a self, keys: &'a [String]) -> StoreFuture<'a, Vec<Option<Found>>> {
        Box::pin(self.read_many(keys))
    }

    fn set_many(&self, writes: Vec<Write>) -> StoreFuture<'_, ()> {
        Box::pin(async move { self.write(&writes).await })
    }

    fn delete(&self, keys: Vec<String>, companion: Option<Companion>) -> StoreFuture<'_, u64> {
        Box::pin(async move { self.unlink(&keys, companion).await })
    }

    fn delete_index<'a>(
        &'a self,
        set: &'a str,
        companion: Option<Companion>,
    ) -> StoreFuture<'a, u64> {
        Box::pin(self.delete_index_members(set, companion, |_| {}))
    }

    fn delete_prefix<'a>(&'a self, prefix: &'a str) -> StoreFuture<'a, u64> {
        Box::pin(self.remove_prefix(prefix))
    }

    fn try_lock<'a>(
        &'a self,
        key: &'a str,
        token: &'a str,
        ttl: Duration,
    ) -> StoreFuture<'a, bool> {
        Box::pin(self.lease(key, token, ttl))
    }

    fn unlock<'a>(&'a self, key: &'a str, token: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(self.release(key, token))
    }
}
