//! `#[cached]` against the alternatives (issue 11): one run, four tables.
//!
//! One `redis-server` of our own; this process (a tokio runtime with one worker) pinned to core
//! 0 and the server to core 1 when `taskset` and two cores are there. The value is a 555-byte
//! JSON analysis; 10,000 hot keys are filled through every path before it is measured. Each path
//! runs alone with 1, 16 and 256 concurrent callers (tasks) for a window; the repetitions take
//! turns ("interleaved"), and the ratio to hand-written code is taken per repetition, then the
//! median. The paths:
//!
//! - hand-written: `redis` `MultiplexedConnection`, `GET` + `serde_json::from_slice`, and on a
//!   miss the body + `SET … PX` (the baseline of every ratio);
//! - `#[cached]`, JSON: our attribute through Redis;
//! - `#[cached]`, local tier: Redis plus `local_tier(10 min)` (a hit is an in-process copy);
//! - `#[cached]`, in-process store: a `Cache` built with no Redis URL;
//! - `moka` get + clone of the decoded value (on a miss, body + insert);
//! - the `cached` crate: `#[concurrent_cached]` over its `AsyncRedisCache` (MessagePack);
//! - a batch call for 100 inputs (`#[cached(batch = …)]`) against 100 single `#[cached]` calls
//!   awaited one after another: a "call" of these two rows is the 100 inputs, and a table of
//!   their own gives the ratio batch / singles, per repetition as above;
//! - on a 3-master Redis Cluster of our own (one replica each, every node on the server's
//!   core): hand-written `GET` through the `redis` crate's cluster client, and `#[cached]` JSON
//!   built with `cluster_nodes` (issue 13).
//!
//! Sections: hit (hot keys), miss (a fresh key per call: `GET` misses, the body runs, the
//! write happens; the database is flushed after every run), and 1000 callers on one cold key
//! (how many times the body ran).
//!
//! Run: `cargo bench -p cache-tests --bench compare`; `COMPARE_SECS=3` measures 3 s per run
//! instead of 0.75 s (the default keeps the whole run around two minutes).

use std::time::Duration;

use cache_runtime::{Cache, CacheBuilder};
use cache_tests::{RedisCluster, RedisServer};

mod alternatives;
mod measure;
// Only the value's type and the function computing it are used here.
#[allow(dead_code)]
mod workload;

use alternatives::drive::{fill, stampede, steady, Keys, Path, Run, Window, HOT_KEYS};
use alternatives::table::{note_misses, print, print_versus, Row};
use alternatives::{
    batch_inputs, cached_crate_lookup, handwritten, lookup, lookup_batch, lookup_binary,
    lookup_one_by_one, moka_get_or_insert, prepare, BATCH, CACHED_CRATE_URL, VALUE_BYTES,
};

const CALLERS: [usize; 3] = [1, 16, 256];
const REPETITIONS: usize = 3;
const COLD_CALLERS: usize = 1000;
const BASELINE: &str = "hand-written GET + serde_json";
const CLUSTER_BASELINE: &str = "hand-written GET + serde_json (3-master cluster)";
/// The batch call, and what it replaces: a "call" of these two rows is [`BATCH`] inputs.
const BATCH_ROW: &str = "#[cached] batch of 100 inputs (Redis)";
const SINGLES_ROW: &str = "#[cached] 100 single calls in turn (Redis)";
const _: () = assert!(BATCH == 100, "the batch rows' names say 100 inputs");
/// The batch rows stop at 16 callers: 256 batches of 100 in flight are 25,600 keys, more than
/// Redis reads or writes within the default 250 ms timeout on this machine; the timeouts open
/// the breaker and the row measures uncached calls, not the cache.
const BATCH_CALLERS: usize = 16;

/// The caches of our framework that the paths install.
struct Caches {
    redis: Cache,
    /// The same for the batch rows: a breaker they open (see [`BATCH_CALLERS`]) stays theirs.
    batch: Cache,
    tiered: Cache,
    memory: Cache,
    /// On the 3-master cluster.
    cluster: Cache,
}

/// Every path compared, in the order of the tables. A new row is one more entry here.
fn paths(
    caches: &Caches,
    connection: &redis::aio::MultiplexedConnection,
    cluster: &redis::cluster_async::ClusterConnection,
) -> Vec<Path> {
    let connection = connection.clone();
    let cluster = cluster.clone();
    let moka = moka::sync::Cache::new(100_000);
    vec![
        Path::new(BASELINE, None, move |id| {
            let mut connection = connection.clone();
            async move { handwritten(&mut connection, id).await }
        }),
        Path::new(
            "#[cached] JSON (Redis)",
            Some(&caches.redis),
            |id| async move { lookup(id).await.is_ok() },
        ),
        Path::new(
            "#[cached] MessagePack (Redis)",
            Some(&caches.redis),
            |id| async move { lookup_binary(id).await.is_ok() },
        ),
        Path::new(BATCH_ROW, Some(&caches.batch), |n| async move {
            lookup_batch(batch_inputs(n)).await.len() == BATCH as usize
        })
        .per_call(BATCH)
        .up_to(BATCH_CALLERS),
        Path::new(SINGLES_ROW, Some(&caches.batch), lookup_one_by_one)
            .per_call(BATCH)
            .up_to(BATCH_CALLERS),
        Path::new(
            "#[cached] local tier",
            Some(&caches.tiered),
            |id| async move { lookup(id).await.is_ok() },
        ),
        Path::new(
            "#[cached] in-process store",
            Some(&caches.memory),
            |id| async move { lookup(id).await.is_ok() },
        ),
        Path::new("moka get + clone", None, move |id| {
            std::future::ready(moka_get_or_insert(&moka, id))
        }),
        Path::new("cached crate (AsyncRedisCache)", None, |id| async move {
            cached_crate_lookup(id).await.is_ok()
        }),
        Path::new(CLUSTER_BASELINE, None, move |id| {
            let mut cluster = cluster.clone();
            async move { handwritten(&mut cluster, id).await }
        }),
        Path::new(
            "#[cached] JSON (3-master cluster)",
            Some(&caches.cluster),
            |id| async move { lookup(id).await.is_ok() },
        ),
    ]
}

fn main() {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let server = RedisServer::start();
    let cluster = RedisCluster::start();
    let (redis_pid, redis_version) = server_info(&server.client());
    let mut servers = vec![redis_pid];
    for url in cluster.urls() {
        let client = redis::Client::open(url).expect("a node's URL");
        servers.push(server_info(&client).0);
    }
    let pinning = alternatives::pin::pin(&servers);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("a tokio runtime with one worker");
    let secs = std::env::var("COMPARE_SECS")
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .filter(|s| *s > 0.0)
        .unwrap_or(0.75);
    let window = Window {
        warm_up: Duration::from_secs_f64(secs / 5.0),
        measured: Duration::from_secs_f64(secs),
    };
    CACHED_CRATE_URL
        .set(server.url())
        .expect("the URL is set once");

    let (caches, connection, cluster_connection) = runtime.block_on(async {
        prepare().await;
        let redis = CacheBuilder::new().redis_url(server.url()).build().await;
        let batch = CacheBuilder::new().redis_url(server.url()).build().await;
        let tiered = CacheBuilder::new()
            .redis_url(server.url())
            .local_tier(Duration::from_secs(600))
            .build()
            .await;
        let memory = CacheBuilder::new().build().await;
        let on_cluster = CacheBuilder::new()
            .cluster_nodes(cluster.urls())
            .build()
            .await;
        let caches = Caches {
            cluster: on_cluster.expect("a Redis Cluster cache"),
            redis: redis.expect("a Redis cache"),
            batch: batch.expect("a Redis cache"),
            tiered: tiered.expect("a Redis cache with a local tier"),
            memory: memory.expect("an in-process cache"),
        };
        caches.tiered.listening().await;
        (
            caches,
            server.connection().await,
            cluster.connection().await,
        )
    });
    let selection = Selection::from_env();
    let mut paths = paths(&caches, &connection, &cluster_connection);
    paths.retain(|path| {
        selection
            .only
            .as_ref()
            .is_none_or(|o| path.name.contains(o.as_str()))
    });
    // Hand-written code reads the entries `#[cached]` wrote: it is filled last.
    let (baseline, others): (Vec<&Path>, Vec<&Path>) = paths
        .iter()
        .partition(|path| path.name == BASELINE || path.name == CLUSTER_BASELINE);
    for path in others.into_iter().chain(baseline) {
        runtime.block_on(fill(path));
    }

    println!("## #[cached] against the alternatives\n");
    println!(
        "{cores} cores ({}), Redis {redis_version}; pinning: {pinning}; load average {}.",
        cpu_model(),
        measure::load_average()
    );
    println!(
        "Value: {VALUE_BYTES} bytes of JSON; {HOT_KEYS} hot keys; {} s measured per run after \
         {} s of warm-up; median of {REPETITIONS} repetitions.",
        window.measured.as_secs_f64(),
        window.warm_up.as_secs_f64()
    );

    let steady_section = |keys, after: &dyn Fn()| {
        sections(&paths, &selection.callers, &|path, callers| {
            let run = runtime.block_on(steady(path, callers, keys, window));
            after();
            run
        })
    };
    let mut hits = Vec::new();
    if selection.wants("hit") {
        hits = steady_section(Keys::Hot, &|| {});
        print("Hit", &hits, BASELINE, false);
        note_misses(&hits);
    }

    let admin = std::cell::RefCell::new(
        server
            .client()
            .get_connection()
            .expect("an admin connection"),
    );
    let cluster_admin = std::cell::RefCell::new(
        redis::cluster::ClusterClient::new(cluster.urls())
            .and_then(|client| client.get_connection())
            .expect("an admin connection to the cluster"),
    );
    let flush = || {
        // Fresh keys pile up in Redis: drop them between runs (not timed).
        let mut admin = admin.borrow_mut();
        let flushed: redis::RedisResult<()> = redis::cmd("FLUSHDB").query(&mut *admin);
        flushed.expect("FLUSHDB");
        // Every master of the cluster.
        let mut admin = cluster_admin.borrow_mut();
        let flushed: redis::RedisResult<()> = redis::cmd("FLUSHDB").query(&mut *admin);
        flushed.expect("FLUSHDB on the cluster");
    };
    let mut misses = Vec::new();
    if selection.wants("miss") {
        misses = steady_section(Keys::Fresh, &flush);
        let title = "Miss (a fresh key per call: GET misses, the body runs, the write happens)";
        print(title, &misses, BASELINE, false);
    }
    print_versus(
        "Batch of 100 inputs against 100 single calls issued one after another (calls/s: \
         batches, or rounds of 100 single calls, per second)",
        &[("hit", &hits), ("miss", &misses)],
        BATCH_ROW,
        SINGLES_ROW,
    );

    if selection.wants("cold") {
        let cold = sections(&paths, &[COLD_CALLERS], &|path, callers| {
            runtime.block_on(stampede(path, callers))
        });
        let title =
            "1000 callers on one cold key (calls/s: 1000 over the time until the last returned)";
        print(title, &cold, BASELINE, true);
    }
    drop(caches);
    drop(server);
    drop(cluster);
}

/// What to run; by default everything. Narrowed by environment variables, for profiling one
/// path: `COMPARE_ONLY` (paths whose name contains it), `COMPARE_CALLERS` (e.g. `1,16`),
/// `COMPARE_SECTIONS` (any of `hit,miss,cold`).
struct Selection {
    only: Option<String>,
    callers: Vec<usize>,
    sections: String,
}

impl Selection {
    fn from_env() -> Self {
        let callers = std::env::var("COMPARE_CALLERS").ok().map(|list| {
            list.split(',')
                .map(|n| n.trim().parse().expect("COMPARE_CALLERS: numbers"))
                .collect()
        });
        Self {
            only: std::env::var("COMPARE_ONLY").ok(),
            callers: callers.unwrap_or_else(|| CALLERS.to_vec()),
            sections: std::env::var("COMPARE_SECTIONS").unwrap_or_else(|_| "hit,miss,cold".into()),
        }
    }

    fn wants(&self, section: &str) -> bool {
        self.sections.split(',').any(|s| s.trim() == section)
    }
}

/// [`REPETITIONS`] runs of every path at each number of callers, the paths taking turns
/// (`measure::interleaved`), so that load from elsewhere falls on all of them alike.
fn sections(paths: &[Path], callers: &[usize], run: &dyn Fn(&Path, usize) -> Run) -> Vec<Row> {
    let mut rows = Vec::new();
    for &callers in callers {
        let paths: Vec<&Path> = paths.iter().filter(|p| p.runs_with(callers)).collect();
        let mut cases: Vec<Box<dyn FnMut() -> Run + '_>> = paths
            .iter()
            .map(|&path| Box::new(move || run(path, callers)) as Box<dyn FnMut() -> Run + '_>)
            .collect();
        let mut cases: Vec<&mut dyn FnMut() -> Run> =
            cases.iter_mut().map(|case| case.as_mut() as _).collect();
        let samples = measure::interleaved(REPETITIONS, &mut cases);
        rows.extend(paths.iter().zip(samples).map(|(path, runs)| Row {
            path: path.name,
            callers,
            runs,
        }));
    }
    rows
}

/// A server's pid (to pin it) and version, from `INFO server`.
fn server_info(server: &redis::Client) -> (u32, String) {
    let mut connection = server.get_connection().expect("a connection");
    let info: String = redis::cmd("INFO")
        .arg("server")
        .query(&mut connection)
        .expect("INFO server");
    let field = |name: &str| {
        info.lines()
            .find_map(|line| line.strip_prefix(name)?.strip_prefix(':'))
            .map(|v| v.trim().to_owned())
            .unwrap_or_default()
    };
    let pid = field("process_id").parse().expect("a process id in INFO");
    (pid, field("redis_version"))
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|text| {
            text.lines().find_map(|line| {
                Some(
                    line.strip_prefix("model name")?
                        .split_once(':')?
                        .1
                        .trim()
                        .to_owned(),
                )
            })
        })
        .unwrap_or_else(|| "CPU model unknown".to_owned())
}
