//! [`CacheEntry`]: one function's entry for one set of arguments, as generated companions give
//! it (`quote_cache("7203")` next to `#[cached] async fn quote(ticker: &str)`).

use std::fmt;
use std::future::Future;

use crate::engine::invalidate::InvalidateError;
use crate::engine::refresh_now;
use crate::private::shape::Codec;
use crate::private::Call;

/// The entry that a `#[cached]` function reads and writes for one set of arguments. `R` is the
/// function's return type.
///
/// The cache and the tenant are those in use where an operation runs, not where the entry was
/// made: `tenant::scope("acme", quote_cache("7203").invalidate())` drops acme's entry, and
/// [`key`](CacheEntry::key) reads the scope it is called in. (A tenant given by an argument,
/// `tenant = arg`, is part of the entry.)
///
/// ```
/// use cache_runtime::{cached, Policy};
///
/// #[cached(key = "quote:{ticker}", ttl = Policy::StockPrice)]
/// async fn quote(ticker: &str) -> Result<f64, String> {
///     Ok(101.5)
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let cache = cache_runtime::CacheBuilder::new().build().await?;
/// cache.scope(async {
///     assert_eq!(quote_cache("7203").key().as_deref(), Some("v1:_:quote:7203"));
///     assert_eq!(quote_cache("7203").peek().await, None); // nothing computed yet
///     quote("7203").await?;
///     assert_eq!(quote_cache("7203").peek().await, Some(Ok(101.5)));
///     assert!(quote_cache("7203").invalidate().await?);
///     assert_eq!(quote_cache("7203").peek().await, None);
///     Ok(())
/// }).await
/// # }
/// ```
pub struct CacheEntry<R> {
    call: Call,
    codec: Option<Codec<R>>,
}

impl<R> CacheEntry<R> {
    #[doc(hidden)]
    pub fn new(call: Call, codec: Option<Codec<R>>) -> Self {
        Self { call, codec }
    }

    /// The full key in the cache and tenant in use where this is called, e.g.
    /// `v1:t=acme:quote:7203`; `None` when no cache is in use here (or the function requires a
    /// tenant and none is in scope).
    pub fn key(&self) -> Option<String> {
        self.call.full_key()
    }

    /// What the function would return from the cache now, without running it: `None` on a miss.
    pub async fn peek(self) -> Option<R> {
        let codec = self.codec?;
        let (bytes, format) = self.call.peek_bytes().await?;
        (codec.decode)(&bytes, format)
    }

    /// What the function would return from the cache now for each entry, in order, read in
    /// one round trip (`MGET`) per cache in use: `None` for a miss.
    ///
    /// ```
    /// use cache_runtime::{cached, CacheEntry};
    ///
    /// #[cached(key = "quote:{ticker}", ttl = "5m")]
    /// async fn quote(ticker: &str) -> Option<f64> {
    ///     Some(ticker.len() as f64)
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), cache_runtime::ConfigError> {
    /// let cache = cache_runtime::CacheBuilder::new().build().await?;
    /// cache.scope(async {
    ///     quote("7203").await;
    ///     let entries = vec![quote_cache("7203"), quote_cache("6758")];
    ///     assert_eq!(CacheEntry::peek_many(entries).await, [Some(Some(4.0)), None]);
    /// }).await;
    /// # Ok(()) }
    /// ```
    pub async fn peek_many(entries: Vec<CacheEntry<R>>) -> Vec<Option<R>> {
        let (calls, codecs): (Vec<Call>, Vec<Option<Codec<R>>>) = entries
            .into_iter()
            .map(|entry| (entry.call, entry.codec))
            .unzip();
        let found = Call::peek_many(calls).await;
        found
            .into_iter()
            .zip(codecs)
            .map(|(found, codec)| {
                let (bytes, format) = found?;
                (codec?.decode)(&bytes, format)
            })
            .collect()
    }

    /// Deletes the entry (and its stale copy). `Ok(true)` if there was one.
    pub async fn invalidate(self) -> Result<bool, InvalidateError> {
        self.call.invalidate().await
    }

    /// Deletes every entry of this function, for every tenant.
    pub async fn invalidate_function(self) -> Result<u64, InvalidateError> {
        self.call.invalidate_function().await
    }

    /// Stores `result` as the entry, if it is cacheable (`Ok`, `Some`, or a plain value).
    pub async fn put(self, result: &R) {
        if let Some(codec) = self.codec {
            self.call.put_encoded(result, codec.encode).await;
        }
    }
}

impl<R> CacheEntry<R> {
    /// Recomputes and stores this entry now, whatever the cache holds, and returns the result:
    /// give it the call of the function with the same arguments. That call's read of this one
    /// key is skipped, its body runs, and a cacheable result (`Ok`, `Some`, a plain value)
    /// replaces the entry, as on a miss (an `Err` or `None` leaves the entry as it was). Calls
    /// of other keys inside it are served as usual. A future that does not call the function
    /// (any `async` block giving an `R`) works too: its cacheable result is then
    /// [`put`](CacheEntry::put).
    ///
    /// The companion cannot run the body by itself: it takes only the arguments that the key
    /// reads, and holds no borrow of them.
    ///
    /// ```
    /// use std::sync::atomic::{AtomicU32, Ordering};
    /// use cache_runtime::cached;
    ///
    /// static PRICE: AtomicU32 = AtomicU32::new(100);
    ///
    /// #[cached(key = "quote:{ticker}", ttl = "5m")]
    /// async fn quote(ticker: &str) -> Option<u32> {
    ///     Some(PRICE.load(Ordering::Relaxed))
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), cache_runtime::ConfigError> {
    /// let cache = cache_runtime::CacheBuilder::new().build().await?;
    /// cache.scope(async {
    ///     assert_eq!(quote("7203").await, Some(100));
    ///     PRICE.store(105, Ordering::Relaxed);
    ///     assert_eq!(quote("7203").await, Some(100)); // cached
    ///     assert_eq!(quote_cache("7203").refresh_with(quote("7203")).await, Some(105));
    ///     assert_eq!(quote("7203").await, Some(105)); // the refreshed entry
    /// }).await;
    /// # Ok(()) }
    /// ```
    pub async fn refresh_with<F: Future<Output = R>>(self, call: F) -> R {
        let Some(key) = self.key() else {
            return call.await;
        };
        let (result, stored) = refresh_now::run(key, call).await;
        if !stored {
            self.put(&result).await;
        }
        result
    }

    /// Stores each result as its entry, if it is cacheable, every write issued at once: on
    /// Redis they share the one multiplexed connection and go out as one pipelined flight.
    /// The counterpart of [`peek_many`](CacheEntry::peek_many).
    ///
    /// ```
    /// use cache_runtime::{cached, CacheEntry, Policy};
    ///
    /// #[cached(key = "quote:{ticker}", ttl = Policy::StockPrice)]
    /// async fn quote(ticker: &str) -> Option<f64> {
    ///     None
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), cache_runtime::ConfigError> {
    /// let cache = cache_runtime::CacheBuilder::new().build().await?;
    /// cache.scope(async {
    ///     let (a, b) = (Some(4.0), Some(2.5));
    ///     CacheEntry::put_many([(quote_cache("7203"), &a), (quote_cache("6758"), &b)]).await;
    ///     assert_eq!(quote("6758").await, Some(2.5)); // served from the cache
    /// }).await;
    /// # Ok(()) }
    /// ```
    pub async fn put_many<'a>(entries: impl IntoIterator<Item = (CacheEntry<R>, &'a R)>)
    where
        R: 'a,
    {
        let puts = entries.into_iter().filter_map(|(entry, result)| {
            let encode = entry.codec.as_ref()?.encode;
            Some(entry.call.put_encoded(result, encode))
        });
        futures_util::future::join_all(puts).await;
    }
}

impl<R> fmt::Debug for CacheEntry<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CacheEntry")
            .field("key", &self.key())
            .finish()
    }
}
