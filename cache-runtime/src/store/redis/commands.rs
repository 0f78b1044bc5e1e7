//! The commands behind each [`Store`] operation on Redis: one round trip each where the
//! operation allows it (pipelines), under the breaker and the deadlines of [`RedisStore`].

use std::future::Future;
use std::pin::Pin;
use std::sync::LazyLock;
use std::time::Duration;

use bytes::Bytes;
use futures_util::future::join_all;

use super::generation::{self, LIFETIME, TOMBSTONE};
use super::scripts::{BUMP, UNLOCK, WRITE};
use super::{glob_escape_into, RedisStore};
use crate::breaker::BreakerState;
use crate::key::shard;
use crate::key::{GenTarget, Generations, Scope};
use crate::metrics::StoreStats;
use crate::store::health::StoreHealth;
use crate::store::{
    millis, Basis, Began, Companion, Fetched, Found, Local, Marks, Read, Seen, Store, StoreError,
    StoreFuture, Write, MAX_TTL,
};

/// The write script, sent by its SHA1 (`EVALSHA`) and loaded on the first `NOSCRIPT`.
static WRITE_SCRIPT: LazyLock<redis::Script> = LazyLock::new(|| redis::Script::new(WRITE));
static BUMP_SCRIPT: LazyLock<redis::Script> = LazyLock::new(|| redis::Script::new(BUMP));

type Reply = Option<Vec<u8>>;

impl RedisStore {
    /// `MGET` of the key and its generations (and `PTTL` of the key when asked, same round
    /// trip); the entry only if its stamp is the generations' stamp now.
    async fn read(&self, key: &str, read: Read<'_>) -> Result<Fetched, StoreError> {
        let Some(gens) = read.gens else {
            return Ok(Fetched::miss());
        };
        let (replies, pttl) = self
            .run(self.operation_timeout, |mut connection| async move {
                let mut mget = redis::cmd("MGET");
                mget.arg(key).arg(&gens.keys);
                if !read.remaining {
                    let replies = mget.query_async::<Vec<Reply>>(&mut connection).await?;
                    return Ok((replies, None));
                }
                let mut pipe = redis::pipe();
                pipe.add_command(mget).cmd("PTTL").arg(key);
                let (replies, pttl) = pipe
                    .query_async::<(Vec<Reply>, i64)>(&mut connection)
                    .await?;
                Ok((replies, Some(pttl)))
            })
            .await?;
        let remaining = pttl
            .and_then(|pttl| u64::try_from(pttl).ok())
            .map(Duration::from_millis);
        let mut replies = replies.into_iter();
        let raw = replies.next().flatten();
        let now: Vec<Reply> = replies.collect();
        let now: Vec<Option<&[u8]>> = now.iter().map(Option::as_deref).collect();
        Ok(judge(raw, &now, gens, remaining))
    }

    /// One `MGET` of every key and every generation they need (each name once).
    async fn read_many(
        &self,
        keys: &[String],
        gens: &[Generations],
    ) -> Result<Vec<Fetched>, StoreError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let mut names: Vec<&str> = keys.iter().map(String::as_str).collect();
        let mut positions = Vec::with_capacity(keys.len());
        for gens in gens {
            let at = gens
                .keys
                .iter()
                .map(
                    |name| match names[keys.len()..].iter().position(|n| n == name) {
                        Some(i) => keys.len() + i,
                        None => {
                            names.push(name);
                            names.len() - 1
                        }
                    },
                )
                .collect::<Vec<_>>();
            positions.push(at);
        }
        let names = &names;
        let replies = self
            .run(self.operation_timeout, |mut connection| async move {
                redis::cmd("MGET")
                    .arg(names)
                    .query_async::<Vec<Reply>>(&mut connection)
                    .await
            })
            .await?;
        let mut replies = replies;
        // The entries move out of the reply (each key is asked once); the generations, which
        // entries share, are read in place.
        let raws: Vec<Reply> = replies
            .iter_mut()
            .take(keys.len())
            .map(Option::take)
            .collect();
        Ok(raws
            .into_iter()
            .zip(positions.iter().zip(gens))
            .map(|(raw, (at, gens))| {
                let now: Vec<Option<&[u8]>> = at
                    .iter()
                    .map(|&j| replies.get(j).and_then(Option::as_deref))
                    .collect();
                judge(raw, &now, gens, None)
            })
            .collect())
    }

    /// The basis of a write of `key`: as the lookup left it when every generation existed;
    /// else, in one round trip, the missing generations are created (`SET … NX GET`) and the
    /// key read again. Generations that the entry would outlive are extended in the background.
    async fn begin_write(
        &self,
        key: &str,
        gens: &Generations,
        ttl: Duration,
        basis: Basis,
    ) -> Result<Began, StoreError> {
        self.extend(gens, ttl);
        if basis.stamp.is_some() && !matches!(basis.seen, Seen::Unchecked) {
            return Ok(Began { at: 0, basis });
        }
        let lifetime = millis(LIFETIME.max(ttl.saturating_mul(2)));
        let tokens: Vec<String> = gens.keys.iter().map(|_| generation::token()).collect();
        let tokens = &tokens;
        let (raw, existing) = self
            .run(self.write_timeout, |mut connection| async move {
                let mut pipe = redis::pipe();
                // `MGET`, not `GET`: a key of another type reads as nothing, not as an error.
                pipe.cmd("MGET").arg(key);
                for (i, (name, token)) in gens.keys.iter().zip(tokens).enumerate() {
                    let set = pipe.cmd("SET").arg(name).arg(token).arg("NX").arg("GET");
                    // The service's generation lives as long as the service.
                    if i > 0 {
                        set.arg("PX").arg(lifetime);
                    }
                }
                let mut replies = pipe
                    .query_async::<Vec<redis::Value>>(&mut connection)
                    .await?
                    .into_iter();
                let (raw,) = redis::from_redis_value::<(Reply,)>(
                    replies.next().unwrap_or(redis::Value::Nil),
                )?;
                let existing = replies
                    .map(redis::from_redis_value::<Reply>)
                    .collect::<Result<Vec<_>, _>>()?;
                Ok((raw, existing))
            })
            .await?;
        let now: Vec<Option<&[u8]>> = existing
            .iter()
            .zip(tokens)
            .map(|(existing, token)| Some(existing.as_deref().unwrap_or(token.as_bytes())))
            .collect();
        let basis = Basis {
            stamp: generation::stamp(gens, &now),
            seen: raw.map_or(Seen::Nothing, |raw| Seen::Bytes(Bytes::from(raw))),
        };
        Ok(Began { at: 0, basis })
    }

    /// Extends, at most once per process per [`LIFETIME`]/4 each, the tenant's and tags'
    /// generations that an entry of `ttl` written now would outlive: in the background, since
    /// only efficiency depends on it (a generation that expires makes its entries misses).
    fn extend(&self, gens: &Generations, ttl: Duration) {
        let now = std::time::Instant::now();
        let lifetime = LIFETIME.max(ttl.saturating_mul(2)).min(MAX_TTL);
        let later = |by: Duration| now.checked_add(by).unwrap_or(now);
        let needed = later(ttl.saturating_add(LIFETIME / 4).min(MAX_TTL));
        let due: Vec<String> = gens.keys[1..]
            .iter()
            .filter(|name| self.extended.get(*name).is_none_or(|until| until < needed))
            .cloned()
            .collect();
        if due.is_empty() || self.breaker.state() != BreakerState::Closed {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        for name in &due {
            self.extended.insert(name.clone(), later(lifetime));
        }
        let mut connection = self.connection();
        let timeout = self.write_timeout;
        runtime.spawn(async move {
            let mut pipe = redis::pipe();
            for name in &due {
                pipe.cmd("PEXPIRE")
                    .arg(name)
                    .arg(millis(lifetime))
                    .arg("GT")
                    .ignore();
            }
            let _ = tokio::time::timeout(timeout, pipe.query_async::<()>(&mut connection)).await;
        });
    }

    /// Writes `writes` all or nothing, each only if its key still holds what its basis saw:
    /// `Ok(false)` when one does not (an invalidation or another write came first). The common
    /// miss, one entry whose key did not exist, is a plain `SET … PX … NX`.
    pub(crate) async fn write(&self, writes: &[Write]) -> Result<bool, StoreError> {
        let writes: Vec<&Write> = writes.iter().collect();
        if !self.is_cluster() || writes.len() < 2 {
            return self.write_slot(&writes).await;
        }
        // On a cluster a script's keys must share a slot: one script per shard, all at once;
        // each is all or nothing for its own keys.
        let groups = by_shard(writes, |write| &write.key);
        let written = join_all(groups.iter().map(|group| self.write_slot(group))).await;
        written
            .into_iter()
            .try_fold(true, |all, written| Ok(all & written?))
    }

    /// [`RedisStore::write`] of keys that share a hash slot.
    async fn write_slot(&self, writes: &[&Write]) -> Result<bool, StoreError> {
        let mut values = Vec::with_capacity(writes.len());
        for write in writes {
            let Some(stamp) = write.basis.stamp else {
                return Ok(false);
            };
            values.push(generation::wrap(stamp, &write.value));
        }
        let values = &values;
        if let [write] = writes {
            if matches!(write.basis.seen, Seen::Nothing) {
                // Refused when the key exists: a tombstone or another writer's entry, or a key
                // of another type, which the script below overwrites.
                let written = self
                    .run(self.write_timeout, |mut connection| async move {
                        redis::cmd("SET")
                            .arg(&write.key)
                            .arg(&values[0])
                            .arg("PX")
                            .arg(millis(write.ttl))
                            .arg("NX")
                            .query_async::<Option<String>>(&mut connection)
                            .await
                    })
                    .await?
                    .is_some();
                if written {
                    return Ok(true);
                }
            }
        }
        let mut invocation = WRITE_SCRIPT.prepare_invoke();
        for (write, value) in writes.iter().zip(values) {
            invocation.key(&write.key);
            match &write.basis.seen {
                Seen::Unchecked => invocation.arg("u").arg(""),
                Seen::Nothing => invocation.arg("n").arg(""),
                Seen::Bytes(bytes) => invocation.arg("b").arg(&bytes[..]),
            };
            invocation.arg(&value[..]).arg(millis(write.ttl));
        }
        let invocation = &invocation;
        self.run(self.write_timeout, |mut connection| async move {
            invocation.invoke_async::<i64>(&mut connection).await
        })
        .await
        .map(|written| written == 1)
    }

    /// Writes a tombstone over each of `keys` (for [`TOMBSTONE`]) and deletes their
    /// companions, in one round trip; how many of `keys` held an entry.
    async fn bury(&self, keys: &[String], companion: Option<Companion>) -> Result<u64, StoreError> {
        if keys.is_empty() {
            return Ok(0);
        }
        if self.is_cluster() && keys.len() > 1 {
            // A pipeline's keys must share a slot on a cluster: one per shard, all at once.
            let groups = by_shard(keys.iter().collect(), |key| key.as_str());
            let buried = join_all(groups.into_iter().map(|group| {
                let group: Vec<String> = group.into_iter().cloned().collect();
                async move { self.bury_slot(&group, companion).await }
            }))
            .await;
            return buried.into_iter().sum();
        }
        self.bury_slot(keys, companion).await
    }

    /// [`RedisStore::bury`] of keys that share a hash slot.
    async fn bury_slot(
        &self,
        keys: &[String],
        companion: Option<Companion>,
    ) -> Result<u64, StoreError> {
        let companions: Vec<String> = companion
            .map(|companion| keys.iter().map(|key| companion(key)).collect())
            .unwrap_or_default();
        let companions = &companions;
        let replies = self
            .run(self.write_timeout, |mut connection| async move {
                let mut pipe = redis::pipe();
                for key in keys {
                    pipe.cmd("SET")
                        .arg(key)
                        .arg(generation::tombstone())
                        .arg("PX")
                        .arg(millis(TOMBSTONE))
                        .arg("GET");
                }
                if !companions.is_empty() {
                    pipe.cmd("UNLINK").arg(companions).ignore();
                }
                pipe.query_async::<Vec<Reply>>(&mut connection).await
            })
            .await?;
        Ok(replies
            .iter()
            .filter(|reply| {
                reply
                    .as_deref()
                    .is_some_and(|raw| !generation::is_tombstone(raw))
            })
            .count() as u64)
    }

    /// Draws a new token for `target`: every entry under it stops matching. On a cluster, in
    /// every shard's copy of the generation, all at once (`crate::key::shard`).
    pub(crate) async fn bump(&self, target: &GenTarget) -> Result<(), StoreError> {
        if !self.is_cluster() {
            return self.bump_key(target, &target.key).await;
        }
        let names: Vec<String> = shard::tags()
            .iter()
            .map(|tag| format!("{}{tag}", target.key))
            .collect();
        let bumped = join_all(names.iter().map(|name| self.bump_key(target, name))).await;
        bumped.into_iter().collect()
    }

    /// Draws a new token for `target` in the generation key `name`.
    async fn bump_key(&self, target: &GenTarget, name: &str) -> Result<(), StoreError> {
        let lifetime = if target.expires { millis(LIFETIME) } else { 0 };
        let mut invocation = BUMP_SCRIPT.prepare_invoke();
        invocation
            .key(name)
            .arg(target.field.as_deref().unwrap_or(""))
            .arg(generation::token())
            .arg(lifetime);
        let invocation = &invocation;
        let bumped = self
            .run(self.write_timeout, |mut connection| async move {
                invocation.invoke_async::<i64>(&mut connection).await
            })
            .await;
        match bumped {
            // Out of memory (`maxmemory` with `noeviction`), Redis refuses the new token but
            // not a deletion, which frees memory: without its generation key, every entry under
            // it is a miss until a write draws a new one (coarser, never stale).
            Err(StoreError::Redis(error)) if error.code() == Some("OOM") => {
                self.unlink(&[name.to_owned()]).await.map(drop)
            }
            bumped => bumped.map(drop),
        }
    }

    async fn remove_prefix(
        &self,
        prefix: &str,
        generation: Option<&GenTarget>,
        scan: bool,
    ) -> Result<u64, StoreError> {
        if let Some(target) = generation {
            self.bump(target).await?;
        }
        if !scan {
            return Ok(0);
        }
        self.scan_delete(prefix).await
    }

    /// `SCAN`s every node for keys under `prefix` and deletes them.
    async fn scan_delete(&self, prefix: &str) -> Result<u64, StoreError> {
        let mut pattern = String::with_capacity(prefix.len() + 8);
        glob_escape_into(&mut pattern, prefix);
        pattern.push('*');
        let mut deleted = 0;
        for node in self.nodes().await? {
            let mut cursor: u64 = 0;
            loop {
                let (next, keys) = self.scan_page(&node, cursor, &pattern).await?;
                deleted += self.unlink(&keys).await?;
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

/// `items` in groups whose keys share a shard's hash tag (keys without one form a group of
/// their own), in their first appearance's order.
fn by_shard<'a, T>(items: Vec<&'a T>, key: impl Fn(&T) -> &str) -> Vec<Vec<&'a T>> {
    let mut groups: Vec<(Option<&'static str>, Vec<&'a T>)> = Vec::new();
    for item in items {
        let tag = shard::tag_in(key(item));
        match groups.iter_mut().find(|(t, _)| *t == tag) {
            Some((_, group)) => group.push(item),
            None => groups.push((tag, vec![item])),
        }
    }
    groups.into_iter().map(|(_, group)| group).collect()
}

/// What `MGET key gens…` found (`raw` at the key, `now` at its generations): the entry if its
/// stamp is the generations' stamp, and the basis of a write of the key.
fn judge(
    raw: Reply,
    now: &[Option<&[u8]>],
    gens: &Generations,
    remaining: Option<Duration>,
) -> Fetched {
    let raw = raw.map(Bytes::from);
    let stamp = generation::stamp(gens, now);
    let found = match (&raw, stamp) {
        (Some(raw), Some(stamp)) => match generation::unwrap(raw) {
            Some((written, range)) if written == stamp => Some(Found {
                value: raw.slice(range),
                remaining,
                typed: None,
            }),
            _ => None,
        },
        _ => None,
    };
    // Bytes that are neither an envelope nor a tombstone: not ours, or corrupted.
    let undecodable = raw
        .as_deref()
        .is_some_and(|raw| !generation::is_tombstone(raw) && generation::unwrap(raw).is_none());
    let seen = raw.map_or(Seen::Nothing, Seen::Bytes);
    Fetched {
        found,
        basis: Basis { stamp, seen },
        undecodable,
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

    fn begin<'a>(
        &'a self,
        key: &'a str,
        gens: &'a Generations,
        ttl: Duration,
        basis: Basis,
    ) -> StoreFuture<'a, Began> {
        Box::pin(self.begin_write(key, gens, ttl, basis))
    }

    fn marks_writes(&self) -> bool {
        false
    }

    fn get_local(&self, _: &str) -> Local {
        Local::Ask
    }

    fn get<'a>(&'a self, key: &'a str, read: Read<'a>) -> StoreFuture<'a, Fetched> {
        Box::pin(self.read(key, read))
    }

    fn get_many<'a>(
        &'a self,
        keys: &'a [String],
        gens: &'a [Generations],
    ) -> StoreFuture<'a, Vec<Fetched>> {
        Box::pin(self.read_many(keys, gens))
    }

    fn set_many(
        &self,
        writes: Vec<Write>,
        _guard: Option<crate::store::Guard>,
        _announce: bool,
    ) -> StoreFuture<'_, bool> {
        Box::pin(async move { self.write(&writes).await })
    }

    fn delete(
        &self,
        keys: Vec<String>,
        companion: Option<Companion>,
        _marks: Option<Marks>,
    ) -> StoreFuture<'_, u64> {
        Box::pin(async move { self.bury(&keys, companion).await })
    }

    fn delete_scope<'a>(
        &'a self,
        scope: &'a Scope,
        _companion: Option<Companion>,
        _marks: Option<Marks>,
    ) -> StoreFuture<'a, u64> {
        Box::pin(async move { self.bump(&scope.generation).await.map(|()| 0) })
    }

    fn delete_prefix<'a>(
        &'a self,
        prefix: &'a str,
        generation: Option<&'a GenTarget>,
        scan: bool,
        _marks: Option<Marks>,
    ) -> StoreFuture<'a, u64> {
        Box::pin(self.remove_prefix(prefix, generation, scan))
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

    fn ping(&self) -> StoreFuture<'_, ()> {
        Box::pin(RedisStore::ping(self))
    }

    fn health(&self) -> Pin<Box<dyn Future<Output = StoreHealth> + Send + '_>> {
        Box::pin(self.report())
    }

    fn direct(&self) -> &dyn crate::store::direct::Direct {
        self
    }
}
