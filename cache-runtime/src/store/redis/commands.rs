//! The commands behind each [`Store`] operation on Redis: one round trip each where the
//! operation allows it (pipelines), under the breaker and the deadlines of [`RedisStore`].

use std::time::Duration;

use bytes::Bytes;

use std::sync::LazyLock;

use super::scripts::{UNLOCK, WRITE};
use super::{glob_escape_into, RedisStore, BATCH};
use crate::breaker::BreakerState;
use crate::metrics::StoreStats;
use crate::store::{
    micros, millis, Companion, Found, Guard, Local, Marks, Read, Stamp, Store, StoreError,
    StoreFuture, Write,
};

/// The write script, sent by its SHA1 (`EVALSHA`) and loaded on the first `NOSCRIPT`.
static WRITE_SCRIPT: LazyLock<redis::Script> = LazyLock::new(|| redis::Script::new(WRITE));

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

    /// Writes `writes` all or nothing in one script (`WRITE`), refused when `guard` says an
    /// invalidation came after the write began: `Ok(false)`.
    pub(crate) async fn write(
        &self,
        writes: &[Write],
        guard: Option<&Guard>,
    ) -> Result<bool, StoreError> {
        let mut invocation = WRITE_SCRIPT.prepare_invoke();
        let (marks, began, window) = match guard {
            Some(guard) => (guard.names.as_slice(), guard.began, micros(guard.window)),
            None => (&[][..], 0, 1),
        };
        invocation
            .arg(marks.len())
            .arg(began)
            .arg(window)
            .arg(writes.len());
        for mark in marks {
            invocation.key(mark);
        }
        for write in writes {
            invocation.key(&write.key);
            let (sets, index_ttl) = match &write.index {
                Some(index) => (index.sets.as_slice(), millis(index.ttl)),
                None => (&[][..], 0),
            };
            for set in sets {
                invocation.key(set);
            }
            invocation
                .arg(&write.value[..])
                .arg(millis(write.ttl))
                .arg(sets.len())
                .arg(index_ttl);
        }
        let invocation = &invocation;
        self.run(self.write_timeout, |mut connection| async move {
            invocation.invoke_async::<i64>(&mut connection).await
        })
        .await
        .map(|written| written == 1)
    }

    async fn remove_prefix(&self, prefix: &str, marks: Option<&Marks>) -> Result<u64, StoreError> {
        self.marked(marks, self.scan_delete(prefix, marks)).await
    }

    /// `SCAN`s every node for keys under `prefix` and deletes them, but `marks`.
    async fn scan_delete(&self, prefix: &str, marks: Option<&Marks>) -> Result<u64, StoreError> {
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
                let keys: Vec<String> = match marks {
                    Some(marks) => keys
                        .into_iter()
                        .filter(|key| !marks.names.contains(key))
                        .collect(),
                    None => keys,
                };
                deleted += self.unlink(&keys, None, None).await?;
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

    fn now(&self) -> StoreFuture<'_, Stamp> {
        Box::pin(self.time())
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

    fn set_many(
        &self,
        writes: Vec<Write>,
        guard: Option<Guard>,
        _announce: bool,
    ) -> StoreFuture<'_, bool> {
        Box::pin(async move { self.write(&writes, guard.as_ref()).await })
    }

    fn delete(
        &self,
        keys: Vec<String>,
        companion: Option<Companion>,
        marks: Option<Marks>,
    ) -> StoreFuture<'_, u64> {
        Box::pin(async move { self.unlink(&keys, companion, marks.as_ref()).await })
    }

    fn delete_index<'a>(
        &'a self,
        set: &'a str,
        companion: Option<Companion>,
        marks: Option<Marks>,
    ) -> StoreFuture<'a, u64> {
        Box::pin(async move {
            self.delete_index_members(set, companion, marks.as_ref(), |_| {})
                .await
        })
    }

    fn delete_prefix<'a>(&'a self, prefix: &'a str, marks: Option<Marks>) -> StoreFuture<'a, u64> {
        Box::pin(async move { self.remove_prefix(prefix, marks.as_ref()).await })
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

    fn direct(&self) -> &dyn crate::store::direct::Direct {
        self
    }
}
