//! What the `compare` bench measures: one value, the functions that produce it, and the paths
//! (ways of getting it) that are compared.
//!
//! A directory module, so that Cargo does not take it for a benchmark target of its own.
//! [`drive`] runs one path with many callers and times every call; [`table`] turns the runs
//! into the printed tables; [`pin`] puts this process and `redis-server` on cores of their own.

pub(crate) mod drive;
pub(crate) mod pin;
pub(crate) mod table;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use cache_runtime::{cached, Policy};
use redis::AsyncCommands;

use self::drive::HOT_KEYS;
use crate::workload::{compute_analysis, Signal, StockAnalysis};

/// Size of the JSON of [`prepared`], as in the issue's workload.
pub(crate) const VALUE_BYTES: usize = 555;
/// The TTL every path stores with: `Policy::AiAnalysis`.
pub(crate) const TTL_MS: u64 = 6 * 3600 * 1000;

static VALUE: OnceLock<StockAnalysis> = OnceLock::new();
/// How many times any path ran the function's body; paths are measured one at a time, so the
/// difference over one run is that path's count.
pub(crate) static BODY_RUNS: AtomicU64 = AtomicU64::new(0);
/// The URL the `cached` crate's store connects to (its `create` block reads it).
pub(crate) static CACHED_CRATE_URL: OnceLock<String> = OnceLock::new();

/// Prepares the value: the workload's analysis with one more signal and two more risks, so that
/// its JSON is [`VALUE_BYTES`] long.
pub(crate) async fn prepare() -> &'static StockAnalysis {
    let mut value = compute_analysis("7203")
        .await
        .expect("the function succeeds");
    value.signals.push(Signal {
        name: "volume_trend".to_owned(),
        value: 1.18,
        weight: 0.2,
    });
    value
        .risks
        .extend(["supply chain".to_owned(), "steel tariffs".to_owned()]);
    let value = VALUE.get_or_init(|| value);
    let bytes = serde_json::to_vec(value).expect("the value encodes").len();
    assert_eq!(bytes, VALUE_BYTES, "the prepared value's JSON length");
    value
}

/// The function's body in every path: it returns the prepared value at once.
pub(crate) fn body() -> StockAnalysis {
    BODY_RUNS.fetch_add(1, Ordering::Relaxed);
    VALUE.get().expect("prepare() ran first").clone()
}

pub(crate) fn body_runs() -> u64 {
    BODY_RUNS.load(Ordering::Relaxed)
}

/// Our framework: a plain `#[cached]` function (JSON codec). Which store it uses depends on the
/// cache installed: Redis, Redis with a local tier, or the in-process store.
#[cached(key = "compare:{id}", ttl = Policy::AiAnalysis)]
pub(crate) async fn lookup(id: u64) -> Result<StockAnalysis, String> {
    Ok(body())
}

/// The same with the MessagePack codec (feature `msgpack`), the binary codec compared with the
/// `cached` crate's (which stores MessagePack too).
#[cached(key = "compare_bin:{id}", ttl = Policy::AiAnalysis, codec = "msgpack")]
pub(crate) async fn lookup_binary(id: u64) -> Result<StockAnalysis, String> {
    Ok(body())
}

/// How many inputs one batch call asks for, in the batch rows (the issue's target: a batch of
/// 100 hits at 20× the throughput of 100 single calls issued one after another).
pub(crate) const BATCH: u64 = 100;

/// A batch call (`#[cached(batch = …)]`): one `MGET` for [`BATCH`] inputs, the body once for
/// the missing ones.
#[cached(batch = id, key = "compare_batch:{id}", ttl = Policy::AiAnalysis)]
pub(crate) async fn lookup_batch(ids: Vec<u64>) -> std::collections::HashMap<u64, StockAnalysis> {
    ids.into_iter().map(|id| (id, body())).collect()
}

/// The inputs of the `n`-th batch call: [`BATCH`] consecutive ones. For a hot `n` (below
/// [`HOT_KEYS`]) they wrap around within the hot keys, so that the first `HOT_KEYS / BATCH`
/// calls fill every one of them; a fresh `n` (a miss) gets inputs no other call asks for.
pub(crate) fn batch_inputs(n: u64) -> Vec<u64> {
    let first = n * BATCH;
    if n < HOT_KEYS {
        (first..first + BATCH).map(|id| id % HOT_KEYS).collect()
    } else {
        (first..first + BATCH).collect()
    }
}

/// [`BATCH`] single `#[cached]` calls for the inputs of [`batch_inputs`]`(n)`, each awaited
/// before the next is issued: what a batch call replaces.
pub(crate) async fn lookup_one_by_one(n: u64) -> bool {
    for id in batch_inputs(n) {
        if lookup(id).await.is_err() {
            return false;
        }
    }
    true
}

/// The `cached` crate's own attribute over its async Redis store (values in MessagePack).
/// `#[concurrent_cached]` is its macro for stores whose operations can fail; it has no single
/// flight (`sync_writes` exists for in-memory stores only).
#[cached::macros::concurrent_cached(
    map_error = r##"|e| format!("{e:?}")"##,
    ty = "cached::AsyncRedisCache<u64, StockAnalysis>",
    create = r##" {
        cached::AsyncRedisCache::builder("compare")
            .ttl(std::time::Duration::from_millis(TTL_MS))
            .connection_string(CACHED_CRATE_URL.get().expect("the URL is set first"))
            .build()
            .await
            .expect("the cached crate's Redis store")
    } "##
)]
pub(crate) async fn cached_crate_lookup(id: u64) -> Result<StockAnalysis, String> {
    let _ = id; // the key; the body does not need it
    Ok(body())
}

/// The key `lookup(id)` uses with the default prefix, outside any tenant scope (see the key
/// layout in the README).
pub(crate) fn stored_key(id: u64) -> String {
    format!("v1:_:compare:{id}")
}

/// The baseline: what the cache replaces, written by hand. `GET` + `serde_json::from_slice`;
/// on a miss the body, `serde_json::to_vec` and `SET … PX`.
pub(crate) async fn handwritten<C>(connection: &mut C, id: u64) -> bool
where
    C: redis::aio::ConnectionLike + Send + Sync,
{
    let key = stored_key(id);
    if let Ok(Some(bytes)) = connection.get::<_, Option<Vec<u8>>>(&key).await {
        if let Ok(value) = serde_json::from_slice::<StockAnalysis>(&bytes) {
            return std::hint::black_box(value).price > 0.0;
        }
    }
    let value = body();
    if let Ok(json) = serde_json::to_vec(&value) {
        let stored: redis::RedisResult<()> = redis::cmd("SET")
            .arg(&key)
            .arg(json)
            .arg("PX")
            .arg(TTL_MS)
            .query_async(connection)
            .await;
        return stored.is_ok();
    }
    false
}

/// The in-process baseline: `moka`'s get + clone of the decoded value; on a miss, the body and
/// an insert.
pub(crate) fn moka_get_or_insert(cache: &moka::sync::Cache<u64, StockAnalysis>, id: u64) -> bool {
    let value = match cache.get(&id) {
        Some(value) => value,
        None => {
            let value = body();
            cache.insert(id, value.clone());
            value
        }
    };
    std::hint::black_box(value).price > 0.0
}
