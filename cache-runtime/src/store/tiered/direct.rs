//! [`Direct`] on the tiered store: Redis answers; a write first drops this process's copy of the
//! key and then tells the other processes to drop theirs, so that no `#[cached]` copy outlives a
//! value written directly.

use std::time::Duration;

use bytes::Bytes;

use super::{Event, TieredStore};
use crate::store::direct::{Counted, Direct};
use crate::store::{StoreError, StoreFuture};

impl TieredStore {
    /// Runs `write` on Redis after dropping the local copy of `key`; announces it when it wrote.
    async fn written<T>(
        &self,
        key: &str,
        write: StoreFuture<'_, T>,
        wrote: impl FnOnce(&T) -> bool,
    ) -> Result<T, StoreError> {
        let keys = [key.to_owned()];
        self.local.invalidate(|copies| copies.remove(&keys, None));
        let outcome = write.await?;
        if wrote(&outcome) {
            // Best effort: the write stands even if the event is lost; copies live at most the
            // local TTL.
            let _ = self.publish(Event::Keys(&keys)).await;
        }
        Ok(outcome)
    }
}

impl Direct for TieredStore {
    fn probe(&self) -> StoreFuture<'_, ()> {
        self.remote.probe()
    }

    fn fetch<'a>(&'a self, key: &'a str) -> StoreFuture<'a, Option<Bytes>> {
        self.remote.fetch(key)
    }

    fn replace<'a>(&'a self, key: &'a str, value: Bytes, ttl: Duration) -> StoreFuture<'a, ()> {
        Box::pin(self.written(key, self.remote.replace(key, value, ttl), |_| true))
    }

    fn discard<'a>(&'a self, key: &'a str) -> StoreFuture<'a, bool> {
        Box::pin(self.written(key, self.remote.discard(key), |_| true))
    }

    fn exists<'a>(&'a self, key: &'a str) -> StoreFuture<'a, bool> {
        self.remote.exists(key)
    }

    fn remaining<'a>(&'a self, key: &'a str) -> StoreFuture<'a, Option<Duration>> {
        self.remote.remaining(key)
    }

    fn extend<'a>(&'a self, key: &'a str, ttl: Duration) -> StoreFuture<'a, bool> {
        self.remote.extend(key, ttl)
    }

    fn compare_and_set<'a>(
        &'a self,
        key: &'a str,
        expected: Option<&'a [u8]>,
        value: Bytes,
        ttl: Duration,
    ) -> StoreFuture<'a, bool> {
        let write = self.remote.compare_and_set(key, expected, value, ttl);
        Box::pin(self.written(key, write, |swapped| *swapped))
    }

    fn increment<'a>(
        &'a self,
        key: &'a str,
        window: Duration,
        peek: Option<&'a str>,
    ) -> StoreFuture<'a, Counted> {
        self.remote.increment(key, window, peek)
    }

    fn scan<'a>(
        &'a self,
        prefix: &'a str,
        pattern: &'a str,
        limit: usize,
    ) -> StoreFuture<'a, Vec<String>> {
        self.remote.scan(prefix, pattern, limit)
    }
}
