//! A hit is bit-identical to what the function returned (issue 9, item 1): every finite `f64`
//! (arbitrary bit patterns, not only round prices), integers up to `u64::MAX` / `i64::MIN`, and
//! non-ASCII strings, through Redis, through the local tier and through the stale copy of
//! `stale_if_error`.
//!
//! The function under test returns whatever the test put into [`SOURCE`] for its id, so a value
//! read back can be compared with the value computed, field by field, floats by their bits.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::time::Duration;

use cache_runtime::{cached, Cache, CacheBuilder};
use cache_tests::inspect::{policy, until_listening};
use cache_tests::RedisServer;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Inner {
    weights: Vec<f64>,
    label: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Record {
    price: f64,
    count: u64,
    delta: i64,
    name: String,
    maybe: Option<f64>,
    series: Vec<Vec<f64>>,
    inner: Vec<Inner>,
}

/// Equality that compares floats by their bits, so `0.0` and `-0.0` differ and a last-bit drift
/// is caught.
trait BitEq {
    fn bit_eq(&self, other: &Self) -> bool;
}

impl BitEq for f64 {
    fn bit_eq(&self, other: &Self) -> bool {
        self.to_bits() == other.to_bits()
    }
}

macro_rules! bit_eq_by_value {
    ($($ty:ty),*) => {$(impl BitEq for $ty {
        fn bit_eq(&self, other: &Self) -> bool { self == other }
    })*};
}
bit_eq_by_value!(u64, i64, String);

impl<T: BitEq> BitEq for Option<T> {
    fn bit_eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Some(a), Some(b)) => a.bit_eq(b),
            (None, None) => true,
            _ => false,
        }
    }
}

impl<T: BitEq> BitEq for Vec<T> {
    fn bit_eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().zip(other).all(|(a, b)| a.bit_eq(b))
    }
}

impl BitEq for Inner {
    fn bit_eq(&self, other: &Self) -> bool {
        self.weights.bit_eq(&other.weights) && self.label.bit_eq(&other.label)
    }
}

impl BitEq for Record {
    fn bit_eq(&self, other: &Self) -> bool {
        self.price.bit_eq(&other.price)
            && self.count.bit_eq(&other.count)
            && self.delta.bit_eq(&other.delta)
            && self.name.bit_eq(&other.name)
            && self.maybe.bit_eq(&other.maybe)
            && self.series.bit_eq(&other.series)
            && self.inner.bit_eq(&other.inner)
    }
}

/// What [`record`] returns for each id.
static SOURCE: Mutex<BTreeMap<u64, Record>> = Mutex::new(BTreeMap::new());
/// Ids for which [`record`] fails, so that `stale_if_error` answers with the stale copy.
static FAILING: Mutex<BTreeSet<u64>> = Mutex::new(BTreeSet::new());

#[cached(key = "record:{id}", ttl = "10m", stale_if_error = "1h")]
async fn record(id: u64) -> Result<Record, String> {
    if FAILING.lock().unwrap().contains(&id) {
        return Err(format!("record {id} is unavailable"));
    }
    SOURCE
        .lock()
        .unwrap()
        .get(&id)
        .cloned()
        .ok_or_else(|| format!("no record {id}"))
}

fn first_difference(expected: &Record, got: &Record) -> String {
    let floats = |r: &Record| -> Vec<f64> {
        let mut all = vec![r.price];
        all.extend(r.maybe);
        all.extend(r.series.iter().flatten());
        all.extend(r.inner.iter().flat_map(|i| i.weights.iter()));
        all
    };
    for (a, b) in floats(expected).into_iter().zip(floats(got)) {
        if a.to_bits() != b.to_bits() {
            return format!(
                "computed {a:e} ({:#018x}), hit {b:e} ({:#018x})",
                a.to_bits(),
                b.to_bits()
            );
        }
    }
    format!("computed {expected:?}\nhit {got:?}")
}

/// Three caches on one server: `writer` computes and stores, `reader` reads through Redis, and
/// `tiered` keeps local copies of what it reads.
struct Caches {
    writer: Cache,
    reader: Cache,
    tiered: Cache,
}

impl Caches {
    async fn new(server: &RedisServer) -> Self {
        let build = |local: bool| {
            let builder = CacheBuilder::new().redis_url(server.url());
            let builder = if local {
                builder.local_tier(Duration::from_secs(60))
            } else {
                builder
            };
            async move { builder.build().await.unwrap() }
        };
        let caches = Self {
            writer: build(false).await,
            reader: build(false).await,
            tiered: build(true).await,
        };
        // A tier that (re)subscribes clears its copies: let it subscribe before it copies.
        until_listening(&[&caches.tiered]).await;
        caches
    }

    /// Computes `value` as record `id`, then checks every way a hit can be served.
    async fn check(&self, server: &RedisServer, id: u64, value: Record) -> Result<(), String> {
        SOURCE.lock().unwrap().insert(id, value.clone());
        let computed = self.writer.scope(record(id)).await?;
        assert!(computed.bit_eq(&value), "the function's own result");

        let expect = |path: &str, got: Result<Record, String>| -> Result<(), String> {
            let got = got.map_err(|e| format!("{path}: {e}"))?;
            if got.bit_eq(&computed) {
                Ok(())
            } else {
                Err(format!(
                    "{path}: the hit differs from the computed value: {}",
                    first_difference(&computed, &got)
                ))
            }
        };
        // The function must not be asked again: every read below is a hit.
        SOURCE.lock().unwrap().remove(&id);

        expect("Redis", self.reader.scope(record(id)).await)?;
        expect(
            "local tier, copied from Redis",
            self.tiered.scope(record(id)).await,
        )?;

        // Only the stale copy is left in Redis, and the function fails: the stale copy answers.
        // The tier still holds its copy, though Redis no longer has the entry: a local hit.
        let key = self
            .writer
            .scope(async { record_cache(id).key() })
            .await
            .expect("a cache is in scope");
        let mut redis = server.connection().await;
        let deleted: u64 = redis::cmd("DEL")
            .arg(&key)
            .query_async(&mut redis)
            .await
            .unwrap();
        assert_eq!(deleted, 1, "{key} was stored");
        expect(
            "local tier, from memory",
            self.tiered.scope(record(id)).await,
        )?;
        FAILING.lock().unwrap().insert(id);
        let stale = self.writer.scope(record(id)).await;
        FAILING.lock().unwrap().remove(&id);
        expect("stale copy", stale)
    }
}

/// Finite doubles from all over the bit space: a xorshift over the 64-bit patterns, NaNs and
/// infinities skipped, plus the corners (subnormals, extremes, signed zeros, classic decimals).
fn finite_doubles(count: usize) -> Vec<f64> {
    let mut doubles = vec![
        0.0,
        -0.0,
        f64::MIN_POSITIVE,
        -f64::MIN_POSITIVE,
        f64::from_bits(1),
        f64::from_bits(0x000f_ffff_ffff_ffff),
        f64::MAX,
        f64::MIN,
        f64::EPSILON,
        0.1 + 0.2,
        1.0 / 3.0,
        2.0f64.powi(53) + 2.0,
        9_007_199_254_740_993.0,
        101.5,
    ];
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    while doubles.len() < count {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let double = f64::from_bits(state);
        if double.is_finite() {
            doubles.push(double);
        }
    }
    doubles
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_finite_double_and_64_bit_integer_comes_back_bit_identical() {
    let server = RedisServer::start();
    let caches = Caches::new(&server).await;
    let doubles = finite_doubles(4_000);
    let mut failures = Vec::new();
    for (n, chunk) in doubles.chunks(100).enumerate() {
        let id = n as u64;
        let value = Record {
            price: chunk[0],
            count: if n % 2 == 0 { u64::MAX } else { u64::MAX - 1 },
            delta: if n % 2 == 0 { i64::MIN } else { i64::MAX },
            name: "日本円 €/¥ \u{1F4C8} \"quoted\" \\ \u{7f}".to_owned(),
            maybe: chunk.get(1).copied(),
            series: chunk.chunks(10).map(<[f64]>::to_vec).collect(),
            inner: vec![Inner {
                weights: chunk.iter().rev().copied().collect(),
                label: Some(format!("ラベル {n}")),
            }],
        };
        if let Err(failure) = caches.check(&server, id, value).await {
            failures.push(failure);
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} records came back different, e.g.:\n{}",
        failures.len(),
        doubles.len() / 100,
        failures[..failures.len().min(5)].join("\n")
    );
    let stats = policy(&caches.tiered, "exact_values::record");
    assert_eq!(
        stats.misses, 0,
        "every read of the tier was a hit: {stats:?}"
    );
    let stats = policy(&caches.writer, "exact_values::record");
    assert_eq!(
        stats.stale, 40,
        "every record was served once from its stale copy: {stats:?}"
    );
}

fn finite_double() -> impl Strategy<Value = f64> {
    any::<u64>()
        .prop_map(f64::from_bits)
        .prop_filter("finite", |d| d.is_finite())
}

fn inner() -> impl Strategy<Value = Inner> {
    (
        prop::collection::vec(finite_double(), 0..6),
        prop::option::of("\\PC{0,12}"),
    )
        .prop_map(|(weights, label)| Inner { weights, label })
}

fn any_record() -> impl Strategy<Value = Record> {
    (
        finite_double(),
        any::<u64>(),
        any::<i64>(),
        "\\PC{0,24}",
        prop::option::of(finite_double()),
        prop::collection::vec(prop::collection::vec(finite_double(), 0..5), 0..4),
        prop::collection::vec(inner(), 0..3),
    )
        .prop_map(|(price, count, delta, name, maybe, series, inner)| Record {
            price,
            count,
            delta,
            name,
            maybe,
            series,
            inner,
        })
}

/// The property of "Done when": for arbitrary records, hit == computed, bit for bit, through
/// Redis and through the local tier (and the stale copy).
#[test]
fn arbitrary_records_come_back_bit_identical() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let server = RedisServer::start();
    let caches = runtime.block_on(Caches::new(&server));
    // Ids apart from the other test's, which shares `record`'s statics in this binary.
    let next_id = std::sync::atomic::AtomicU64::new(1_000_000);
    let mut runner = TestRunner::new(Config {
        cases: 256,
        failure_persistence: None,
        ..Config::default()
    });
    let outcome = runner.run(&any_record(), |value| {
        let id = next_id.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let checked = runtime.block_on(caches.check(&server, id, value));
        prop_assert!(checked.is_ok(), "{}", checked.unwrap_err());
        Ok(())
    });
    if let Err(failure) = outcome {
        panic!("{failure}");
    }
}
