//! `#[cached(batch = …)]` against a real Redis and the in-process store: one `MGET` for the
//! read (on a cluster, one per hash slot of the inputs: they span slots and masters), the body
//! called once with the inputs that missed (not at all when none did), the results stored per
//! input, tenants kept apart, and an unreachable Redis that only costs the cache, never the call.
//!
//! The Redis tests run on a single server (`single::…`) and on a three-master cluster
//! (`cluster::…`), see [`cache_tests::backend`]; the outage test kills its server and runs on a
//! single server only.

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;

use cache_runtime::{cached, tenant, CacheBuilder, CacheEntry, Policy};
use cache_tests::inspect::{policy, redis_cache, total_errors};
use cache_tests::{backend_tests, Backend, RedisServer};
use redis::aio::MultiplexedConnection;

/// What a batch function's body was called with, call by call.
struct Received(Mutex<Vec<Vec<String>>>);

impl Received {
    const fn new() -> Self {
        Self(Mutex::new(Vec::new()))
    }

    fn record(&self, inputs: &[String]) {
        self.0.lock().unwrap().push(inputs.to_vec());
    }

    /// The calls so far, and forget them.
    fn take(&self) -> Vec<Vec<String>> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

fn price(ticker: &str) -> f64 {
    ticker.bytes().map(f64::from).sum()
}

fn strings(inputs: &[&str]) -> Vec<String> {
    inputs.iter().map(|s| (*s).to_owned()).collect()
}

fn prices(inputs: &[&str]) -> HashMap<String, f64> {
    inputs.iter().map(|t| ((*t).to_owned(), price(t))).collect()
}

/// A connection to each node that serves keys: the server, or every master of a cluster.
async fn nodes(backend: &Backend) -> Vec<MultiplexedConnection> {
    match backend {
        Backend::Single(server) => vec![server.connection().await],
        Backend::Cluster(cluster) => {
            let mut nodes = Vec::new();
            for port in cluster.masters() {
                let client = redis::Client::open(format!("redis://127.0.0.1:{port}"))
                    .unwrap_or_else(|e| panic!("a client for node {port}: {e}"));
                nodes.push(
                    client
                        .get_multiplexed_async_connection()
                        .await
                        .unwrap_or_else(|e| panic!("connect to node {port}: {e}")),
                );
            }
            nodes
        }
    }
}

/// Calls of `command` since the last `CONFIG RESETSTAT`, from `INFO commandstats`, summed over
/// `nodes`.
async fn calls(nodes: &mut [MultiplexedConnection], command: &str) -> u64 {
    let prefix = format!("cmdstat_{command}:calls=");
    let mut total = 0;
    for node in nodes {
        let info: String = redis::cmd("INFO")
            .arg("commandstats")
            .query_async(node)
            .await
            .unwrap();
        total += info
            .lines()
            .find_map(|line| line.strip_prefix(&prefix)?.split(',').next()?.parse().ok())
            .unwrap_or(0);
    }
    total
}

async fn reset_stats(nodes: &mut [MultiplexedConnection]) {
    for node in nodes {
        let _: () = redis::cmd("CONFIG")
            .arg("RESETSTAT")
            .query_async(node)
            .await
            .unwrap();
    }
}

/// How many `MGET`s one batch read of `inputs` of `quotes` costs: one on a single server; on a
/// cluster one per hash slot of their keys (the client splits the `MGET`), and the keys are
/// spread over more than one master (or the test would not show the split).
fn expected_mgets(backend: &Backend, inputs: &[&str]) -> u64 {
    let Backend::Cluster(cluster) = backend else {
        return 1;
    };
    let keys: Vec<String> = inputs
        .iter()
        .map(|t| backend.key(&format!("v1:_:quote:{t}")))
        .collect();
    let masters: BTreeSet<u16> = keys.iter().map(|k| cluster.master_of_key(k)).collect();
    assert!(
        masters.len() > 1,
        "the inputs' keys {keys:?} all live on one master: the test needs them spread"
    );
    let tags: BTreeSet<&str> = keys.iter().map(|k| &k[k.rfind('{').unwrap()..]).collect();
    u64::try_from(tags.len()).unwrap()
}

static MISSING_RECEIVED: Received = Received::new();

#[cached(batch = ticker, key = "quote:{ticker}", ttl = Policy::StockPrice)]
async fn quotes(tickers: Vec<String>) -> HashMap<String, f64> {
    MISSING_RECEIVED.record(&tickers);
    tickers.iter().map(|t| (t.clone(), price(t))).collect()
}

async fn redis_reads_every_input_with_one_mget_and_computes_only_the_missing(backend: Backend) {
    MISSING_RECEIVED.take();
    let cache = backend.cache().await;
    let mut redis = nodes(&backend).await;
    let all = ["A", "B", "C", "D", "E"];
    let mgets = expected_mgets(&backend, &all);
    cache
        .scope(async {
            assert_eq!(
                quotes(strings(&["A", "B", "C"])).await,
                prices(&["A", "B", "C"])
            );
            assert_eq!(MISSING_RECEIVED.take(), [strings(&["A", "B", "C"])]);

            reset_stats(&mut redis).await;
            assert_eq!(quotes(strings(&all)).await, prices(&all));
            assert_eq!(
                MISSING_RECEIVED.take(),
                [strings(&["D", "E"])],
                "the body gets exactly the inputs that missed"
            );
            // The read is one `MGET` per slot. On a cluster the write of an input whose shard
            // has no generations yet (`D`, `E` may open a shard `A`–`C` did not) reads its key
            // with the `MGET` that creates them: at most one more per missed input.
            let read = calls(&mut redis, "mget").await;
            let writes_may_read = if backend.is_cluster() { 2 } else { 0 };
            assert!(
                (mgets..=mgets + writes_may_read).contains(&read),
                "{read} MGETs, expected {mgets} for the read\n{}",
                backend.log()
            );
            assert_eq!(calls(&mut redis, "get").await, 0);

            reset_stats(&mut redis).await;
            assert_eq!(quotes(strings(&all)).await, prices(&all));
            assert!(MISSING_RECEIVED.take().is_empty(), "all hits: no call");
            assert_eq!(
                calls(&mut redis, "mget").await,
                mgets,
                "all hits: the read alone"
            );
            assert_eq!(calls(&mut redis, "set").await, 0);

            let stats = policy(&cache, "stock_price");
            assert_eq!((stats.hits, stats.misses), (3 + 5, 3 + 2), "{stats:?}");
        })
        .await;
}

static LOCAL_RECEIVED: Received = Received::new();

#[cached(batch = ticker, key = "local:{ticker}", ttl = "1h")]
async fn local_quotes(tickers: Vec<String>) -> HashMap<String, f64> {
    LOCAL_RECEIVED.record(&tickers);
    tickers.iter().map(|t| (t.clone(), price(t))).collect()
}

#[tokio::test]
async fn in_process_computes_only_the_missing() {
    let cache = CacheBuilder::new().build().await.unwrap();
    cache
        .scope(async {
            local_quotes(strings(&["A", "B", "C"])).await;
            LOCAL_RECEIVED.take();
            let all = ["A", "B", "C", "D", "E"];
            assert_eq!(local_quotes(strings(&all)).await, prices(&all));
            assert_eq!(LOCAL_RECEIVED.take(), [strings(&["D", "E"])]);
            assert_eq!(local_quotes(strings(&all)).await, prices(&all));
            assert!(LOCAL_RECEIVED.take().is_empty());
        })
        .await;
}

static PARTIAL_RECEIVED: Received = Received::new();

/// Returns nothing for inputs starting with `x`.
#[cached(batch = ticker, key = "partial:{ticker}", ttl = "1h")]
async fn partial_quotes(tickers: Vec<String>) -> HashMap<String, f64> {
    PARTIAL_RECEIVED.record(&tickers);
    tickers
        .iter()
        .filter(|t| !t.starts_with('x'))
        .map(|t| (t.clone(), price(t)))
        .collect()
}

async fn inputs_the_body_leaves_out_are_absent_and_not_cached_and_repeats_run_once(
    backend: Backend,
) {
    PARTIAL_RECEIVED.take();
    let cache = backend.cache().await;
    cache
        .scope(async {
            // `A` twice: it reaches the body once.
            let answer = partial_quotes(strings(&["A", "xB", "A"])).await;
            assert_eq!(answer, prices(&["A"]));
            assert_eq!(partial_quotes(strings(&["A", "xB"])).await, prices(&["A"]));
            assert_eq!(
                PARTIAL_RECEIVED.take(),
                [strings(&["A", "xB"]), strings(&["xB"])]
            );
        })
        .await;
}

static TENANT_RECEIVED: Received = Received::new();

#[cached(batch = ticker, key = "tenant:{ticker}", ttl = "1h")]
async fn tenant_quotes(tickers: Vec<String>) -> HashMap<String, f64> {
    TENANT_RECEIVED.record(&tickers);
    tickers.iter().map(|t| (t.clone(), price(t))).collect()
}

async fn tenants_do_not_share_batch_entries(backend: Backend) {
    TENANT_RECEIVED.take();
    let cache = backend.cache().await;
    cache
        .scope(async {
            tenant::scope("acme", tenant_quotes(strings(&["A", "B"]))).await;
            tenant::scope("globex", tenant_quotes(strings(&["A", "B"]))).await;
            tenant::scope("acme", tenant_quotes(strings(&["A", "B", "C"]))).await;
            assert_eq!(
                TENANT_RECEIVED.take(),
                [strings(&["A", "B"]), strings(&["A", "B"]), strings(&["C"])],
                "globex computes its own entries; acme reads its own"
            );
        })
        .await;
}

static KILLED_RECEIVED: Received = Received::new();

#[cached(batch = ticker, key = "killed:{ticker}", ttl = "1h")]
async fn killed_quotes(tickers: Vec<String>) -> HashMap<String, f64> {
    KILLED_RECEIVED.record(&tickers);
    tickers.iter().map(|t| (t.clone(), price(t))).collect()
}

#[tokio::test]
async fn with_redis_killed_the_body_gets_every_input() {
    let mut server = RedisServer::start();
    let cache = redis_cache(&server).await;
    cache
        .scope(async {
            killed_quotes(strings(&["A", "B"])).await;
            KILLED_RECEIVED.take();
            server.kill();
            let all = ["A", "B", "C"];
            assert_eq!(killed_quotes(strings(&all)).await, prices(&all));
            assert_eq!(KILLED_RECEIVED.take(), [strings(&all)]);
            assert!(total_errors(&cache) > 0, "the outage is counted");
        })
        .await;
}

static SINGLE_RUNS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

#[cached(key = "single:{ticker}", ttl = "1h")]
async fn single_quote(ticker: &str) -> Option<f64> {
    SINGLE_RUNS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    Some(price(ticker))
}

async fn put_many_writes_entries_that_calls_and_peek_many_read(backend: Backend) {
    SINGLE_RUNS.store(0, std::sync::atomic::Ordering::SeqCst);
    let cache = backend.cache().await;
    cache
        .scope(async {
            let (a, b) = (Some(1.5), Some(2.5));
            CacheEntry::put_many([(single_quote_cache("A"), &a), (single_quote_cache("B"), &b)])
                .await;
            let entries = vec![
                single_quote_cache("A"),
                single_quote_cache("B"),
                single_quote_cache("C"),
            ];
            assert_eq!(
                CacheEntry::peek_many(entries).await,
                [Some(a), Some(b), None]
            );
            assert_eq!(single_quote("B").await, b);
            assert_eq!(cache_tests::inspect::runs(&SINGLE_RUNS), 0);
        })
        .await;
}

backend_tests!(
    redis_reads_every_input_with_one_mget_and_computes_only_the_missing,
    inputs_the_body_leaves_out_are_absent_and_not_cached_and_repeats_run_once,
    tenants_do_not_share_batch_entries,
    put_many_writes_entries_that_calls_and_peek_many_read,
);
