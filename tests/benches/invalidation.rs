//! What the invalidation index sets cost: a hit, a write (a miss that stores) and an
//! invalidation, each next to the hand-written Redis code it replaces. Prints markdown.
//!
//! One `redis-server` of our own; everything runs on a current-thread tokio runtime, so caller
//! and connection driver share one thread and nothing but the operation is timed. Every figure is
//! a median over rounds in which the compared cases take turns, so load from other processes falls
//! on all of them alike. Beside the time, each row shows what the server saw per call, from
//! `INFO commandstats` and `total_net_input_bytes` read before and after every round (only this
//! process talks to the server; the `INFO` commands themselves are left out).
//!
//! 1. **Hit.** `#[cached]` hits through Redis (`analysis` of [`workload`], outside any tenant;
//!    the tagged `quote` below, in a tenant scope) against hand-written `GET` +
//!    `serde_json::from_slice` on a `ConnectionManager`. The index sets are only written, so a
//!    hit sends the one `GET` it sent before they existed.
//! 2. **Write.** Every call a distinct key in tenant `acme`, so every call misses and stores:
//!    `#[cached]` `analysis` (policy TTL in a tenant scope: 5 index sets), the tagged `quote`
//!    (6 sets), hand-written `GET` (miss) + `SET PX` of the same value, and hand-written `GET` +
//!    the very pipeline the store sends (`SADD` + `PEXPIRE NX` + `PEXPIRE GT` per set, then
//!    `SET PX`), which splits the difference into index sets and wrapper.
//! 3. **Invalidation.** `N` entries of `quote` in tenant `acme` (one ticker, `N` days, so one
//!    tag set holds all of them), with 10 000 entries of 100 other tenants present throughout;
//!    time of `invalidate_tenant`, `invalidate_tag`, `invalidate_function` and `purge_tenant`
//!    (`SCAN` over the whole keyspace), one call per round on freshly written entries; then
//!    `quote_cache(..).invalidate()` of one key against a hand-written `UNLINK`.
//!
//! Run: `cargo bench -p cache-tests --bench invalidation`.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::future::Future;
use std::time::{Duration, Instant};

use cache_runtime::{cached, tenant, Cache, CacheBuilder, Policy, Stats, Tag, TtlPolicy};
use cache_tests::RedisServer;
use redis::aio::ConnectionManager;
use redis::AsyncCommands;
use tokio::task::JoinSet;

mod measure;
mod workload;

use measure::{interleaved, load_average, per_call, percent, show, signed, Sample};
use workload::{analysis, analysis_cache, compute_analysis, stored_key, StockAnalysis};

const TICKER: &str = "7203";
const TENANT: &str = "acme";
/// The paths `#[cached]` records (`module_path!()` of the bench is its crate name).
const QUOTE_PATH: &str = concat!(module_path!(), "::quote");
const ANALYSIS_PATH: &str = concat!(module_path!(), "::workload::analysis");
/// Rounds of the hit and write figures, and calls per round (tens of µs each).
const HIT_ROUNDS: usize = 25;
const WRITE_ROUNDS: usize = 21;
const HIT_CALLS: u32 = 500;
const WRITE_CALLS: u32 = 400;
/// Entries per invalidation, with the rounds each gets: one invalidation per round, so the
/// small ones, which the noise moves most, get more.
const SIZES: [(u64, usize); 4] = [(1, 31), (100, 21), (1_000, 9), (10_000, 5)];
/// Entries of other tenants present during every invalidation: 100 tenants × 100 entries.
const OTHER_TENANTS: u64 = 100;
const OTHER_ENTRIES: u64 = 100;
/// One-key invalidations per round, and rounds.
const ONE_KEY_CALLS: u32 = 200;
const ONE_KEY_ROUNDS: usize = 15;
/// Puts in flight while filling the cache (untimed).
const FILL_CONCURRENCY: usize = 128;

/// Quotes by ticker and day, tagged by ticker: a tenant's `N` days of one ticker share one tag
/// set, as `invalidate_tag` finds them.
#[cached(key = "quote:{ticker}:{day}", ttl = Policy::StockPrice, tags = ["ticker:{ticker}"])]
async fn quote(ticker: &str, day: u64) -> Result<StockAnalysis, String> {
    compute_analysis(ticker).await
}

fn main() {
    let started = Instant::now();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a current-thread tokio runtime");
    let server = RedisServer::start();
    let load_before = load_average();
    let value = runtime
        .block_on(compute_analysis(TICKER))
        .expect("the function succeeds");
    let value_bytes = serde_json::to_vec(&value).expect("the value encodes").len();
    let cache = runtime
        .block_on(CacheBuilder::new().redis_url(server.url()).build())
        .expect("a Redis cache");
    let manager = runtime
        .block_on(ConnectionManager::new(server.client()))
        .expect("a ConnectionManager");
    // The probe reads `INFO` on a connection of its own; two reads in a row give the bytes of
    // one `INFO` request, taken off every window.
    let probe = runtime
        .block_on(ConnectionManager::new(server.client()))
        .expect("a ConnectionManager");
    let info_bytes = {
        let first = runtime.block_on(traffic(probe.clone()));
        let second = runtime.block_on(traffic(probe.clone()));
        second.bytes_in - first.bytes_in
    };
    let observe = |run: &mut dyn FnMut() -> Sample| -> Round {
        let before = runtime.block_on(traffic(probe.clone()));
        let sample = run();
        let after = runtime.block_on(traffic(probe.clone()));
        Round {
            sample,
            traffic: after.since(&before, info_bytes),
        }
    };

    // Warm the hit entries; check the key layout and the index sets the hand-written code uses.
    let analysis_sets = [
        format!("v1:idx:fn:{}", ANALYSIS_PATH.replace("::", ".")),
        format!("v1:idx:t={TENANT}:all"),
        format!("v1:idx:t={TENANT}:fn:{}", ANALYSIS_PATH.replace("::", ".")),
        "v1:idx:policy:cache_runtime.policy.Policy.AiAnalysis".to_owned(),
        format!("v1:idx:t={TENANT}:policy:cache_runtime.policy.Policy.AiAnalysis"),
    ];
    let quote_sets = quote_sets();
    let quote_key = runtime.block_on(cache.scope(tenant::scope(TENANT, async {
        assert!(analysis(TICKER).await.is_ok());
        assert!(quote(TICKER, 0).await.is_ok());
        assert!(analysis("warm").await.is_ok());
        assert_eq!(
            analysis_cache("warm").key(),
            Some(format!("v1:t={TENANT}:analysis:warm")),
            "hand-written writes use the cache's key layout"
        );
        quote_cache(TICKER, 0).key().expect("a key in scope")
    })));
    runtime.block_on(cache.scope(async {
        assert!(analysis(TICKER).await.is_ok());
    }));
    runtime.block_on(async {
        let mut connection = manager.clone();
        let warm = format!("v1:t={TENANT}:analysis:warm");
        for set in &analysis_sets {
            let member: bool = connection.sismember(set, &warm).await.expect("SISMEMBER");
            assert!(member, "{warm} is in {set}");
        }
        for set in &quote_sets {
            let member: bool = connection
                .sismember(set, &quote_key)
                .await
                .expect("SISMEMBER");
            assert!(member, "{quote_key} is in {set}");
        }
    });
    assert_eq!(
        runtime.block_on(handwritten_hit(manager.clone(), stored_key(TICKER))),
        Some(value.clone()),
        "hand-written code reads the entry the cache wrote"
    );

    // 1. Hits.
    let hits = interleaved(
        HIT_ROUNDS,
        &mut [
            &mut || {
                observe(&mut || {
                    runtime.block_on(cache.scope(per_call(HIT_CALLS, || analysis(TICKER))))
                })
            },
            &mut || {
                observe(&mut || {
                    runtime.block_on(cache.scope(tenant::scope(
                        TENANT,
                        per_call(HIT_CALLS, || quote(TICKER, 0)),
                    )))
                })
            },
            &mut || {
                observe(&mut || {
                    runtime.block_on(per_call(HIT_CALLS, || {
                        handwritten_hit(manager.clone(), stored_key(TICKER))
                    }))
                })
            },
        ],
    );
    let after_hits = totals(&cache.stats());

    // 2. Writes: a distinct key every call.
    let next = Cell::new(0u64);
    let fresh = || {
        let n = next.get();
        next.set(n + 1);
        n
    };
    let writes = interleaved(
        WRITE_ROUNDS,
        &mut [
            &mut || {
                observe(&mut || {
                    runtime.block_on(cache.scope(tenant::scope(
                        TENANT,
                        per_call(WRITE_CALLS, || {
                            let ticker = fresh().to_string();
                            async move { analysis(&ticker).await }
                        }),
                    )))
                })
            },
            &mut || {
                observe(&mut || {
                    runtime.block_on(cache.scope(tenant::scope(
                        TENANT,
                        per_call(WRITE_CALLS, || quote(TICKER, fresh())),
                    )))
                })
            },
            &mut || {
                observe(&mut || {
                    runtime.block_on(per_call(WRITE_CALLS, || {
                        handwritten_write(manager.clone(), fresh(), &[])
                    }))
                })
            },
            &mut || {
                observe(&mut || {
                    runtime.block_on(per_call(WRITE_CALLS, || {
                        handwritten_write(manager.clone(), fresh(), &analysis_sets)
                    }))
                })
            },
        ],
    );
    let after_writes = totals(&cache.stats());
    let written = u64::from(WRITE_CALLS) * WRITE_ROUNDS as u64;
    assert_eq!(
        after_writes.0 - after_hits.0,
        2 * written,
        "every `#[cached]` write call missed"
    );

    // 3. Invalidations, with other tenants' entries present.
    runtime.block_on(async {
        let _: () = redis::cmd("FLUSHALL")
            .query_async(&mut manager.clone())
            .await
            .expect("FLUSHALL");
    });
    let shared = Ok::<_, String>(value.clone());
    runtime.block_on(fill(OTHER_TENANTS * OTHER_ENTRIES, |i| {
        let (cache, value) = (cache.clone(), shared.clone());
        let tenant = format!("other-{:03}", i / OTHER_ENTRIES);
        async move {
            cache
                .scope(tenant::scope(tenant, async move {
                    analysis_cache(&(i % OTHER_ENTRIES).to_string())
                        .put(&value)
                        .await;
                }))
                .await;
        }
    }));
    runtime.block_on(drop_marks(manager.clone()));
    let baseline = runtime.block_on(dbsize(manager.clone()));
    let fill_quotes = |days: std::ops::Range<u64>| {
        let expected = days.end - days.start;
        runtime.block_on(fill(expected, |i| {
            let (cache, value) = (cache.clone(), shared.clone());
            let day = days.start + i;
            async move {
                cache
                    .scope(tenant::scope(TENANT, async move {
                        quote_cache(TICKER, day).put(&value).await;
                    }))
                    .await;
            }
        }));
        runtime.block_on(async {
            let mut connection = manager.clone();
            for set in &quote_sets {
                let members: u64 = connection.scard(set).await.expect("SCARD");
                assert_eq!(members, expected, "{set} holds every entry");
            }
        });
    };
    let clean_up = || {
        runtime.block_on(async {
            let mut connection = manager.clone();
            let _: u64 = connection.unlink(&quote_sets).await.expect("UNLINK");
            drop_marks(connection.clone()).await;
            assert_eq!(
                dbsize(connection).await,
                baseline,
                "only the other tenants' keys are left"
            );
        });
    };

    let kinds = [Kind::Tenant, Kind::Tag, Kind::Function, Kind::PurgeTenant];
    let mut invalidations: Vec<(u64, usize, Vec<Vec<Round>>)> = Vec::new();
    let mut index_memory = None;
    for (entries, rounds) in SIZES {
        let mut samples: Vec<Vec<Round>> = kinds.iter().map(|_| Vec::new()).collect();
        for round in 0..rounds {
            for offset in 0..kinds.len() {
                let which = (round + offset) % kinds.len();
                fill_quotes(0..entries);
                if entries == 10_000 && index_memory.is_none() {
                    index_memory = Some(runtime.block_on(memory(manager.clone(), &quote_sets)));
                }
                let kind = kinds[which];
                let mut deleted = 0;
                let measured = observe(&mut || {
                    let started = Instant::now();
                    deleted = runtime.block_on(kind.run(&cache)).expect("invalidation");
                    Sample {
                        wall: started.elapsed(),
                        cpu: Duration::ZERO,
                    }
                });
                assert_eq!(deleted, entries, "{kind:?} deleted every entry");
                samples[which].push(measured);
                clean_up();
            }
        }
        invalidations.push((entries, rounds, samples));
    }

    // One key: `invalidate()` against a hand-written `UNLINK` of the same kind of key.
    let keys: Vec<String> = runtime.block_on(cache.scope(tenant::scope(TENANT, async {
        (0..u64::from(2 * ONE_KEY_CALLS))
            .map(|day| quote_cache(TICKER, day).key().expect("a key in scope"))
            .collect()
    })));
    let mut one_key: Vec<Vec<Round>> = vec![Vec::new(), Vec::new()];
    for round in 0..ONE_KEY_ROUNDS {
        fill_quotes(0..u64::from(2 * ONE_KEY_CALLS));
        for offset in 0..2 {
            let which = (round + offset) % 2;
            let measured = if which == 0 {
                let day = Cell::new(0u64);
                observe(&mut || {
                    runtime.block_on(cache.scope(tenant::scope(
                        TENANT,
                        per_call(ONE_KEY_CALLS, || {
                            let entry = quote_cache(TICKER, day.get());
                            day.set(day.get() + 1);
                            async move {
                                assert!(entry.invalidate().await.expect("invalidate"));
                            }
                        }),
                    )))
                })
            } else {
                let index = Cell::new(ONE_KEY_CALLS as usize);
                observe(&mut || {
                    runtime.block_on(per_call(ONE_KEY_CALLS, || {
                        let key = keys[index.get()].as_str();
                        index.set(index.get() + 1);
                        let mut connection = manager.clone();
                        async move {
                            let deleted: u64 = connection.unlink(key).await.expect("UNLINK");
                            assert_eq!(deleted, 1);
                        }
                    }))
                })
            };
            one_key[which].push(measured);
        }
        clean_up();
    }
    let final_counts = totals(&cache.stats());
    assert_eq!(final_counts.2, 0, "no store errors: {:?}", cache.stats());
    let load_after = load_average();

    // Report.
    println!("## Invalidation benchmark\n");
    println!(
        "Value: `StockAnalysis`, {value_bytes} bytes of JSON. tokio current-thread runtime, `redis-server` of our own on loopback. \
         Times are medians over rounds in which the compared cases take turns (2 shared cores: noisy). \
         Commands and bytes are what the server received per call. Load average before/after: {load_before} / {load_after}.\n"
    );

    println!("### Cost per hit\n");
    println!(
        "| case | per call, wall (median of {HIT_ROUNDS} rounds) | p25–p75 | CPU of this process per call (mean) | commands per call | bytes to Redis per call |"
    );
    println!("|---|---|---|---|---|---|");
    for (case, rounds) in [
        (
            "`#[cached]` hit through Redis (`analysis`, no tenant)",
            &hits[0],
        ),
        (
            "`#[cached]` hit, tagged `quote` in a tenant scope",
            &hits[1],
        ),
        ("hand-written `GET` + decode, `ConnectionManager`", &hits[2]),
    ] {
        row(case, rounds, HIT_CALLS);
    }
    let (ratio, ratio_low, ratio_high) = paired_ratio(&hits[0], &hits[2]);
    println!(
        "\n`#[cached]` hit over hand-written, per-round ratio measured back to back: median {ratio:+.1}% (p25–p75 {ratio_low:+.1}%…{ratio_high:+.1}%).\n"
    );

    println!("### Cost per write (a miss that stores)\n");
    println!(
        "| case | per call, wall (median of {WRITE_ROUNDS} rounds) | p25–p75 | CPU of this process per call (mean) | commands per call | bytes to Redis per call |"
    );
    println!("|---|---|---|---|---|---|");
    for (case, rounds) in [
        (
            "`#[cached]` miss + store, policy TTL, tenant scope (5 index sets)",
            &writes[0],
        ),
        (
            "`#[cached]` miss + store, same with `tags = [\"ticker:{ticker}\"]` (6 sets)",
            &writes[1],
        ),
        (
            "hand-written `GET` (miss) + `SET PX`, no index",
            &writes[2],
        ),
        (
            "hand-written `GET` (miss) + the store's pipeline: 5 × (`SADD`, `PEXPIRE NX`, `PEXPIRE GT`) + `SET PX`",
            &writes[3],
        ),
    ] {
        row(case, rounds, WRITE_CALLS);
    }
    let wall = |rounds: &[Round]| quartiles(rounds, |round| round.sample.wall).1;
    let (sets, _, _) = paired_ratio(&writes[3], &writes[2]);
    let (wrapper, _, _) = paired_ratio(&writes[0], &writes[3]);
    let (total, _, _) = paired_ratio(&writes[0], &writes[2]);
    let (tag, _, _) = paired_ratio(&writes[1], &writes[0]);
    println!(
        "\nMedian per-round ratios: `#[cached]` write over plain `GET` + `SET` {total:+.1}% ({}); \
         of which the index sets by hand {sets:+.1}% ({}), the wrapper over the same pipeline by hand {wrapper:+.1}% ({}); \
         one tag over none {tag:+.1}% ({}).\n",
        signed(wall(&writes[0]), wall(&writes[2])),
        signed(wall(&writes[3]), wall(&writes[2])),
        signed(wall(&writes[0]), wall(&writes[3])),
        signed(wall(&writes[1]), wall(&writes[0])),
    );

    println!("### Cost per invalidation\n");
    println!(
        "`N` entries of `quote` in tenant `{TENANT}`, all in the one tag set; {} entries of {OTHER_TENANTS} other tenants present throughout \
         ({} keys with their index sets). One invalidation per round on freshly written entries; \
         commands are per invalidation (mean), round trips the median.\n",
        grouped(OTHER_TENANTS * OTHER_ENTRIES),
        grouped(baseline),
    );
    println!(
        "| invalidation | N | time (median) | p25–p75 | per entry | commands sent | round trips | rounds |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for (index, kind) in kinds.iter().enumerate() {
        for (entries, rounds, samples) in &invalidations {
            let rounds_of = &samples[index];
            let (low, median, high) = quartiles(rounds_of, |round| round.sample.wall);
            println!(
                "| {} | {} | {} | {}–{} | {} | {} | {} | {rounds} |",
                kind.label(),
                grouped(*entries),
                show(median),
                show(low),
                show(high),
                show(median / u32::try_from(*entries).expect("small")),
                commands(rounds_of, 1),
                {
                    let mut trips: Vec<u64> = rounds_of
                        .iter()
                        .map(|round| kind.round_trips(&round.traffic))
                        .collect();
                    trips.sort_unstable();
                    trips[trips.len() / 2]
                },
            );
        }
    }
    println!();
    println!(
        "| one key | per call, wall (median of {ONE_KEY_ROUNDS} rounds) | p25–p75 | CPU of this process per call (mean) | commands per call | bytes to Redis per call |"
    );
    println!("|---|---|---|---|---|---|");
    row(
        "`quote_cache(ticker, day).invalidate()` (entry and its stale copy)",
        &one_key[0],
        ONE_KEY_CALLS,
    );
    row(
        "hand-written `UNLINK` of the key",
        &one_key[1],
        ONE_KEY_CALLS,
    );
    if let Some((sets, entry)) = index_memory {
        println!(
            "\nRedis memory at N = 10 000 (`MEMORY USAGE … SAMPLES 0`): the 6 index sets of `quote` hold {:.0} bytes per entry; one entry is {entry} bytes.",
            sets as f64 / 10_000.0
        );
    }
    println!(
        "Counters (misses, hits, errors) of the cache at the end: {final_counts:?}. Run time {:.1} s.",
        started.elapsed().as_secs_f64()
    );
}

/// The six index sets a tagged `quote` entry of tenant `acme` belongs to.
fn quote_sets() -> [String; 6] {
    let function = QUOTE_PATH.replace("::", ".");
    [
        format!("v1:idx:fn:{function}"),
        format!("v1:idx:t={TENANT}:all"),
        format!("v1:idx:t={TENANT}:fn:{function}"),
        "v1:idx:policy:cache_runtime.policy.Policy.StockPrice".to_owned(),
        format!("v1:idx:t={TENANT}:policy:cache_runtime.policy.Policy.StockPrice"),
        format!("v1:idx:t={TENANT}:tag:ticker:{TICKER}"),
    ]
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    Tenant,
    Tag,
    Function,
    PurgeTenant,
}

impl Kind {
    async fn run(self, cache: &Cache) -> Result<u64, cache_runtime::InvalidateError> {
        match self {
            Kind::Tenant => cache.invalidate_tenant(Some(TENANT)).await,
            Kind::Tag => {
                cache
                    .invalidate_tag(Some(TENANT), &Tag::new("ticker").with(TICKER))
                    .await
            }
            Kind::Function => cache.invalidate_function(QUOTE_PATH).await,
            Kind::PurgeTenant => cache.purge_tenant(Some(TENANT)).await,
        }
    }

    /// Round trips of one invalidation, from its commands. Through an index set: an `SSCAN` per
    /// page, one pipeline of two `UNLINK`s (members, their stale copies) per non-empty page,
    /// then an `UNLINK` of the set. `purge_tenant`: a `SCAN` per page, an `UNLINK` per page
    /// with matches, over the entries' prefix and then the index sets' prefix.
    fn round_trips(self, traffic: &Traffic) -> u64 {
        let count = |name: &str| traffic.commands.get(name).copied().unwrap_or(0);
        match self {
            Kind::PurgeTenant => count("SCAN") + count("UNLINK"),
            _ => count("SSCAN") + (count("UNLINK") - 1) / 2 + 1,
        }
    }

    fn label(self) -> &'static str {
        match self {
            Kind::Tenant => "`invalidate_tenant`",
            Kind::Tag => "`invalidate_tag`",
            Kind::Function => "`invalidate_function`",
            Kind::PurgeTenant => "`purge_tenant` (`SCAN`)",
        }
    }
}

/// One round and what the server received during it.
#[derive(Clone)]
struct Round {
    sample: Sample,
    traffic: Traffic,
}

/// Commands by name (`INFO` left out) and bytes received, as counted by the server.
#[derive(Clone, Default)]
struct Traffic {
    commands: BTreeMap<String, u64>,
    bytes_in: u64,
}

impl Traffic {
    fn since(&self, before: &Traffic, info_bytes: u64) -> Traffic {
        let commands = self
            .commands
            .iter()
            .map(|(name, calls)| {
                let earlier = before.commands.get(name).copied().unwrap_or(0);
                (name.clone(), calls - earlier)
            })
            .filter(|(_, calls)| *calls > 0)
            .collect();
        Traffic {
            commands,
            bytes_in: (self.bytes_in - before.bytes_in).saturating_sub(info_bytes),
        }
    }
}

/// `INFO stats commandstats` of the server.
async fn traffic(mut connection: ConnectionManager) -> Traffic {
    let info: String = redis::cmd("INFO")
        .arg("stats")
        .arg("commandstats")
        .query_async(&mut connection)
        .await
        .expect("INFO");
    let mut traffic = Traffic::default();
    for line in info.lines() {
        if let Some(bytes) = line.strip_prefix("total_net_input_bytes:") {
            traffic.bytes_in = bytes.trim().parse().expect("a byte count");
        } else if let Some((name, fields)) = line
            .strip_prefix("cmdstat_")
            .and_then(|rest| rest.split_once(':'))
        {
            let calls = fields
                .split(',')
                .find_map(|field| field.strip_prefix("calls="))
                .and_then(|calls| calls.parse().ok())
                .unwrap_or(0);
            if name != "info" {
                traffic.commands.insert(name.to_ascii_uppercase(), calls);
            }
        }
    }
    traffic
}

/// Deletes the marks invalidations leave for ten minutes (`…#inv`, `v1:idx:purged:…`), so that
/// a round starts from the same keyspace as the one before.
async fn drop_marks(mut connection: ConnectionManager) {
    let mut cursor: u64 = 0;
    loop {
        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg("v1:idx:*")
            .arg("COUNT")
            .arg(1000)
            .query_async(&mut connection)
            .await
            .expect("SCAN");
        let marks: Vec<&String> = keys
            .iter()
            .filter(|key| key.ends_with("#inv") || key.starts_with("v1:idx:purged:"))
            .collect();
        if !marks.is_empty() {
            let _: u64 = connection.unlink(&marks).await.expect("UNLINK");
        }
        cursor = next;
        if cursor == 0 {
            return;
        }
    }
}

async fn dbsize(mut connection: ConnectionManager) -> u64 {
    redis::cmd("DBSIZE")
        .query_async(&mut connection)
        .await
        .expect("DBSIZE")
}

/// (bytes of `sets` together, bytes of one entry of `quote`), by `MEMORY USAGE`.
async fn memory(mut connection: ConnectionManager, sets: &[String]) -> (u64, u64) {
    let mut total = 0;
    for set in sets {
        let bytes: u64 = redis::cmd("MEMORY")
            .arg("USAGE")
            .arg(set)
            .arg("SAMPLES")
            .arg(0)
            .query_async(&mut connection)
            .await
            .expect("MEMORY USAGE");
        total += bytes;
    }
    let member: String = connection.srandmember(&sets[0]).await.expect("SRANDMEMBER");
    let entry: u64 = redis::cmd("MEMORY")
        .arg("USAGE")
        .arg(member)
        .query_async(&mut connection)
        .await
        .expect("MEMORY USAGE");
    (total, entry)
}

/// Runs `task(0..count)`, `FILL_CONCURRENCY` at a time (untimed set-up).
async fn fill<F, Fut>(count: u64, mut task: F)
where
    F: FnMut(u64) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let mut tasks = JoinSet::new();
    for i in 0..count {
        if tasks.len() >= FILL_CONCURRENCY {
            tasks
                .join_next()
                .await
                .expect("a task")
                .expect("a fill task");
        }
        tasks.spawn(task(i));
    }
    while let Some(done) = tasks.join_next().await {
        done.expect("a fill task");
    }
}

/// What the cache replaces on a hit: `GET`, decode.
async fn handwritten_hit(mut connection: ConnectionManager, key: String) -> Option<StockAnalysis> {
    let bytes: Option<Vec<u8>> = connection.get(key).await.ok()?;
    serde_json::from_slice(&bytes?).ok()
}

/// The key `analysis(&n.to_string())` uses in tenant `acme`.
fn written_key(n: u64) -> String {
    format!("v1:t={TENANT}:analysis:{n}")
}

/// What the cache replaces on a miss: build the key, `GET` (a miss), compute, encode, store
/// with the policy's TTL. With `sets`, the store's own pipeline: each set's `SADD` +
/// `PEXPIRE NX` + `PEXPIRE GT`, then the `SET PX`, in one round trip.
async fn handwritten_write(
    mut connection: ConnectionManager,
    n: u64,
    sets: &[String],
) -> Option<StockAnalysis> {
    let key = written_key(n);
    let cached: Option<Vec<u8>> = connection.get(&key).await.ok()?;
    if let Some(bytes) = cached {
        return serde_json::from_slice(&bytes).ok();
    }
    let value = compute_analysis(&n.to_string()).await.ok()?;
    let bytes = serde_json::to_vec(&value).ok()?;
    let ttl = u64::try_from(Policy::AiAnalysis.default_ttl().as_millis()).ok()?;
    if sets.is_empty() {
        // A lone command, as hand-written code without indexes sends it.
        let _: () = redis::cmd("SET")
            .arg(&key)
            .arg(bytes)
            .arg("PX")
            .arg(ttl)
            .query_async(&mut connection)
            .await
            .ok()?;
        return Some(value);
    }
    let mut pipe = redis::pipe();
    for set in sets {
        pipe.cmd("SADD").arg(set).arg(&key).ignore();
        pipe.cmd("PEXPIRE").arg(set).arg(ttl).arg("NX").ignore();
        pipe.cmd("PEXPIRE").arg(set).arg(ttl).arg("GT").ignore();
    }
    pipe.cmd("SET")
        .arg(&key)
        .arg(bytes)
        .arg("PX")
        .arg(ttl)
        .ignore();
    pipe.query_async::<()>(&mut connection).await.ok()?;
    Some(value)
}

/// (misses, hits, errors) over every policy.
fn totals(stats: &Stats) -> (u64, u64, u64) {
    stats.policies.values().fold((0, 0, 0), |(m, h, e), p| {
        (m + p.misses, h + p.hits, e + p.errors)
    })
}

/// One table row: wall median and quartiles, mean CPU, commands and bytes per call.
fn row(case: &str, rounds: &[Round], calls: u32) {
    let (low, median, high) = quartiles(rounds, |round| round.sample.wall);
    let cpu = rounds
        .iter()
        .map(|round| round.sample.cpu)
        .sum::<Duration>()
        / rounds.len() as u32;
    let bytes: u64 = rounds.iter().map(|round| round.traffic.bytes_in).sum();
    let per_call = u64::from(calls) * rounds.len() as u64;
    println!(
        "| {case} | {} | {}–{} | {} | {} | {:.0} |",
        show(median),
        show(low),
        show(high),
        show(cpu),
        commands(rounds, calls),
        bytes as f64 / per_call as f64,
    );
}

/// Commands the server received per call, over every round: e.g. `GET 1, SADD 5`.
fn commands(rounds: &[Round], calls: u32) -> String {
    let mut total: BTreeMap<&str, u64> = BTreeMap::new();
    for round in rounds {
        for (name, count) in &round.traffic.commands {
            *total.entry(name).or_default() += count;
        }
    }
    let per = (u64::from(calls) * rounds.len() as u64) as f64;
    total
        .into_iter()
        .map(|(name, count)| {
            let each = count as f64 / per;
            if (each - each.round()).abs() < 0.005 {
                format!("{name} {each:.0}")
            } else {
                format!("{name} {each:.2}")
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// (first quartile, median, third quartile) of one measure over the rounds.
fn quartiles(rounds: &[Round], measure: fn(&Round) -> Duration) -> (Duration, Duration, Duration) {
    let mut sorted: Vec<Duration> = rounds.iter().map(measure).collect();
    sorted.sort();
    let n = sorted.len();
    (sorted[n / 4], sorted[n / 2], sorted[(3 * n) / 4])
}

/// Round by round, how much slower `a` was than `b` in the same round, in percent: (median,
/// first quartile, third quartile).
fn paired_ratio(a: &[Round], b: &[Round]) -> (f64, f64, f64) {
    let mut ratios: Vec<f64> = a
        .iter()
        .zip(b)
        .map(|(a, b)| percent(a.sample.wall, b.sample.wall))
        .collect();
    ratios.sort_by(f64::total_cmp);
    let n = ratios.len();
    (ratios[n / 2], ratios[n / 4], ratios[(3 * n) / 4])
}

/// `10000` as `10 000`.
fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(' ');
        }
        out.push(digit);
    }
    out
}
