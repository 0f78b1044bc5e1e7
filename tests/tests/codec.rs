//! The opt-in codecs (issue 11): MessagePack and LZ4 compression above a size, per attribute
//! and per process, against a real Redis: each Redis test runs on a single server (`single::…`)
//! and on a three-master cluster (`cluster::…`), see [`cache_tests::backend`].
//!
//! - A MessagePack hit is bit-identical to what the function returned (NaN payloads, `-0.0`,
//!   subnormals, `u64::MAX`, `i64::MIN`, non-ASCII strings, enums with serde attributes),
//!   through Redis, the local tier, the stale copy and the in-process store.
//! - Above the threshold Redis holds a compressed frame, smaller than the JSON; below it the
//!   plain JSON.
//! - An entry written in one codec and read by a site of the other is a miss: the body runs and
//!   its value is returned, counted as `codec_mismatch`; so is garbage behind `0xC1`.
//! - `CacheBuilder::codec`/`compress_above` and `CACHE_CODEC`/`CACHE_COMPRESS_ABOVE` apply to
//!   attributes that choose neither.
//!
//! Every test starts its own server or cluster (or none) and uses its own functions, whose run
//! counters it resets (its two variants take turns), so run counts are exact.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use cache_runtime::{cached, Cache, CacheBuilder, Codec};
use cache_tests::inspect::{json, policy, runs, until_listening};
use cache_tests::{backend_tests, Backend};
use serde::{Deserialize, Serialize};

/// An event with the serde attributes a service uses: an internally tagged enum, renamed
/// fields, fields skipped when empty.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
enum Event {
    Trade {
        price: f64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        venue: Option<String>,
    },
    Halt {
        #[serde(rename = "why")]
        reason: String,
    },
    Closed,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Sample {
    floats: Vec<f64>,
    single: f32,
    max: u64,
    min: i64,
    name: String,
    events: Vec<Event>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    missing: Option<Box<Sample>>,
    nested: Option<Vec<Option<i8>>>,
}

fn sample(id: u32) -> Sample {
    Sample {
        floats: vec![
            -0.0,
            f64::from_bits(1),                     // the smallest subnormal
            f64::MIN_POSITIVE / 3.0,               // another subnormal
            f64::from_bits(0x7ff8_0000_dead_beef), // a NaN with a payload
            f64::from_bits(0xfff0_0000_0000_0001), // a signalling NaN, negative
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::MAX,
            0.1 + 0.2,
            f64::from(id) / 7.0,
        ],
        single: f32::from_bits(0x7fc0_1234),
        max: u64::MAX,
        min: i64::MIN,
        name: format!("東京 {id} — ✓ \u{1F600} \u{0}"),
        events: vec![
            Event::Trade {
                price: -0.0,
                venue: None,
            },
            Event::Trade {
                price: 1.0 / 3.0,
                venue: Some("XTKS".to_owned()),
            },
            Event::Halt {
                reason: "circuit breaker".to_owned(),
            },
            Event::Closed,
        ],
        missing: None,
        nested: Some(vec![Some(i8::MIN), None, Some(i8::MAX)]),
    }
}

/// Bit-for-bit equality: floats by their bits, everything else by value (through JSON, whose
/// text of everything but floats is exact).
fn assert_bit_identical(got: &Sample, want: &Sample) {
    let bits = |s: &Sample| -> Vec<u64> { s.floats.iter().map(|f| f.to_bits()).collect() };
    assert_eq!(bits(got), bits(want), "floats");
    assert_eq!(got.single.to_bits(), want.single.to_bits(), "f32");
    let event_bits = |s: &Sample| -> Vec<Option<u64>> {
        s.events
            .iter()
            .map(|event| match event {
                Event::Trade { price, .. } => Some(price.to_bits()),
                _ => None,
            })
            .collect()
    };
    assert_eq!(event_bits(got), event_bits(want), "event prices");
    let rest = |s: &Sample| {
        serde_json::to_string(&(s.max, s.min, &s.name, &s.nested, s.missing.is_some())).unwrap()
            + &serde_json::to_string(
                &s.events
                    .iter()
                    .map(|event| match event {
                        Event::Trade { venue, .. } => format!("trade {venue:?}"),
                        Event::Halt { reason } => format!("halt {reason}"),
                        Event::Closed => "closed".to_owned(),
                    })
                    .collect::<Vec<_>>(),
            )
            .unwrap()
    };
    assert_eq!(rest(got), rest(want));
}

/// `builder`, with its other settings, pointed at `backend`, built.
async fn redis_cache(backend: &Backend, builder: CacheBuilder) -> Cache {
    let builder = match backend {
        Backend::Single(server) => builder.redis_url(server.url()),
        Backend::Cluster(cluster) => builder.cluster_nodes(cluster.urls()),
    };
    backend.build(builder).await
}

// MessagePack: bit-identical hits --------------------------------------------------------------

static PACKED_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached(
    key = "packed:{id}",
    ttl = "1h",
    codec = "msgpack",
    stale_if_error = "1h"
)]
async fn packed(id: u32, fail: bool) -> Result<Sample, String> {
    PACKED_RUNS.fetch_add(1, Ordering::SeqCst);
    if fail {
        return Err("source down".to_owned());
    }
    Ok(sample(id))
}

async fn message_pack_hits_are_bit_identical_through_redis_the_local_tier_and_the_stale_copy(
    backend: Backend,
) {
    PACKED_RUNS.store(0, Ordering::SeqCst);
    let cache = redis_cache(&backend, CacheBuilder::new()).await;
    let mut redis = backend.connection().await;
    cache
        .scope(async {
            let computed = packed(1, false).await.unwrap();
            assert_bit_identical(&computed, &sample(1));
            let hit = packed(1, false).await.unwrap();
            assert_eq!(runs(&PACKED_RUNS), 1, "the second call is a hit");
            assert_bit_identical(&hit, &sample(1));

            let key = packed_cache(1).key().unwrap();
            assert_eq!(key, backend.key("v1:_:packed:~1"));
            let raw = redis.entry(&key).await.unwrap();
            assert_eq!(&raw[..2], b"\xc1M", "a MessagePack frame: {raw:?}");
            assert!(
                std::str::from_utf8(&raw).is_err(),
                "never mistaken for JSON text"
            );
            assert!(raw.len() < json(&sample(1)).len());
            // The field names are in the entry (`to_vec_named`), so fields can be added and
            // reordered as with JSON.
            assert!(raw.windows(6).any(|w| w == b"floats"));

            // The stale copy, after the entry is gone and the function fails.
            let _: () = redis::cmd("DEL")
                .arg(&key)
                .query_async(&mut redis)
                .await
                .unwrap();
            let stale = packed(1, true).await.unwrap();
            assert_eq!(runs(&PACKED_RUNS), 2);
            assert_bit_identical(&stale, &sample(1));
            assert_eq!(policy(&cache, "codec::packed").stale, 1);
        })
        .await;

    // A second process with a local tier: the first one's entry is decoded from Redis into
    // its tier, then served from memory.
    cache.scope(packed(2, false)).await.unwrap();
    assert_eq!(runs(&PACKED_RUNS), 3);
    let tiered = redis_cache(
        &backend,
        CacheBuilder::new().local_tier(Duration::from_secs(60)),
    )
    .await;
    until_listening(&[&tiered]).await;
    tiered
        .scope(async {
            for _ in 0..3 {
                assert_bit_identical(&packed(2, false).await.unwrap(), &sample(2));
            }
            assert_eq!(runs(&PACKED_RUNS), 3);
            assert_eq!(policy(&tiered, "codec::packed").hits, 3);
        })
        .await;
    let stats = policy(&cache, "codec::packed");
    assert_eq!(
        (stats.codec_mismatch, stats.undecodable),
        (0, 0),
        "{stats:?}"
    );
}

static PACKED_LOCAL_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached(key = "packed_local:{id}", ttl = "1h", codec = "msgpack")]
async fn packed_local(id: u32) -> Sample {
    PACKED_LOCAL_RUNS.fetch_add(1, Ordering::SeqCst);
    sample(id)
}

#[tokio::test]
async fn message_pack_hits_are_bit_identical_in_process() {
    let cache = CacheBuilder::new().build().await.unwrap();
    cache
        .scope(async {
            packed_local(3).await;
            assert_bit_identical(&packed_local(3).await, &sample(3));
            assert_eq!(runs(&PACKED_LOCAL_RUNS), 1);
            // `peek` decodes the stored bytes rather than cloning the kept value.
            let peeked = packed_local_cache(3).peek().await.expect("an entry");
            assert_bit_identical(&peeked, &sample(3));
        })
        .await;
}

// Compression ---------------------------------------------------------------------------------

static SQUEEZED_RUNS: AtomicUsize = AtomicUsize::new(0);

/// `n` lines of a compressible report.
fn lines(n: u32) -> Vec<String> {
    (0..n)
        .map(|i| {
            format!(
                "ticker {} closed at {}.{:02}",
                7000 + i % 9,
                100 + i % 5,
                i % 100
            )
        })
        .collect()
}

#[cached(key = "squeezed:{n}", ttl = "1h", compress_above = "1kb")]
async fn squeezed(n: u32) -> Vec<String> {
    SQUEEZED_RUNS.fetch_add(1, Ordering::SeqCst);
    lines(n)
}

static SQUEEZED_PACKED_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached(
    key = "squeezed_packed:{n}",
    ttl = "1h",
    codec = "msgpack",
    compress_above = 1024
)]
async fn squeezed_packed(n: u32) -> Vec<String> {
    SQUEEZED_PACKED_RUNS.fetch_add(1, Ordering::SeqCst);
    lines(n)
}

async fn above_the_threshold_redis_holds_fewer_bytes_and_below_it_plain_json(backend: Backend) {
    SQUEEZED_RUNS.store(0, Ordering::SeqCst);
    SQUEEZED_PACKED_RUNS.store(0, Ordering::SeqCst);
    let cache = redis_cache(&backend, CacheBuilder::new()).await;
    let mut redis = backend.connection().await;
    cache
        .scope(async {
            // 1,000 lines: ~30 kB of JSON.
            assert_eq!(squeezed(1000).await, lines(1000));
            let raw = redis
                .entry(&squeezed_cache(1000).key().unwrap())
                .await
                .unwrap();
            let plain = json(&lines(1000));
            assert_eq!(&raw[..3], b"\xc1ZJ", "compressed JSON");
            assert!(
                raw.len() * 4 < plain.len(),
                "{} bytes stored for {} bytes of JSON",
                raw.len(),
                plain.len()
            );
            assert_eq!(squeezed(1000).await, lines(1000));
            assert_eq!(runs(&SQUEEZED_RUNS), 1, "the compressed entry is a hit");

            // 10 lines: ~300 bytes, below the threshold: plain JSON, as redis-cli shows it.
            assert_eq!(squeezed(10).await, lines(10));
            let raw = redis
                .entry(&squeezed_cache(10).key().unwrap())
                .await
                .unwrap();
            assert_eq!(raw, json(&lines(10)));
            assert_eq!(squeezed(10).await, lines(10));
            assert_eq!(runs(&SQUEEZED_RUNS), 2);

            assert_eq!(squeezed_packed(1000).await, lines(1000));
            let raw = redis
                .entry(&squeezed_packed_cache(1000).key().unwrap())
                .await
                .unwrap();
            assert_eq!(&raw[..3], b"\xc1ZM", "compressed MessagePack");
            assert!(raw.len() * 4 < plain.len());
            assert_eq!(squeezed_packed(1000).await, lines(1000));
            let raw = {
                squeezed_packed(10).await;
                redis
                    .entry(&squeezed_packed_cache(10).key().unwrap())
                    .await
                    .unwrap()
            };
            assert_eq!(
                &raw[..2],
                b"\xc1M",
                "below the threshold: plain MessagePack"
            );
            assert_eq!(squeezed_packed(10).await, lines(10));
            assert_eq!(runs(&SQUEEZED_PACKED_RUNS), 2);
        })
        .await;
    for label in ["codec::squeezed", "codec::squeezed_packed"] {
        let stats = policy(&cache, label);
        assert_eq!((stats.hits, stats.misses), (2, 2), "{label}: {stats:?}");
        assert_eq!((stats.codec_mismatch, stats.undecodable), (0, 0));
    }
}

// One key, two codecs -------------------------------------------------------------------------

static AS_JSON_RUNS: AtomicUsize = AtomicUsize::new(0);
static AS_PACKED_RUNS: AtomicUsize = AtomicUsize::new(0);

/// Two functions with one key template: the same entry, in two codecs.
#[cached(key = "shared:{id}", ttl = "1h")]
async fn as_json(id: u32) -> Vec<f64> {
    AS_JSON_RUNS.fetch_add(1, Ordering::SeqCst);
    vec![f64::from(id), 1.5]
}

#[cached(key = "shared:{id}", ttl = "1h", codec = "msgpack")]
async fn as_packed(id: u32) -> Vec<f64> {
    AS_PACKED_RUNS.fetch_add(1, Ordering::SeqCst);
    vec![f64::from(id), -2.5]
}

/// Writes the entry with one codec, then reads it with the other, both ways.
async fn switch_codecs(cache: &Cache, raw: Option<&Backend>) {
    cache
        .scope(async {
            assert_eq!(as_json(1).await, [1.0, 1.5]);
            assert_eq!(as_json(1).await, [1.0, 1.5]);
            assert_eq!(runs(&AS_JSON_RUNS), 1);
            // The JSON entry is a miss for the MessagePack site: its own body runs, and its
            // value is returned and stored.
            assert_eq!(as_packed(1).await, [1.0, -2.5]);
            assert_eq!(runs(&AS_PACKED_RUNS), 1);
            assert_eq!(policy(cache, "codec::as_packed").codec_mismatch, 1);
            if let Some(backend) = raw {
                let key = as_json_cache(1).key().unwrap();
                assert_eq!(key, backend.key("v1:_:shared:~1"));
                let raw = backend.connection().await.entry(&key).await;
                assert_eq!(&raw.unwrap()[..2], b"\xc1M", "overwritten in MessagePack");
            }
            assert_eq!(as_packed(1).await, [1.0, -2.5]);
            assert_eq!(runs(&AS_PACKED_RUNS), 1, "its own entry is a hit");
            // And the reverse.
            assert_eq!(as_json(1).await, [1.0, 1.5]);
            assert_eq!(runs(&AS_JSON_RUNS), 2);
            assert_eq!(policy(cache, "codec::as_json").codec_mismatch, 1);
            for label in ["codec::as_json", "codec::as_packed"] {
                assert_eq!(policy(cache, label).undecodable, 0, "{label}");
            }
        })
        .await;
}

async fn an_entry_of_the_other_codec_is_a_miss_through_redis_and_in_process(backend: Backend) {
    AS_JSON_RUNS.store(0, Ordering::SeqCst);
    AS_PACKED_RUNS.store(0, Ordering::SeqCst);
    let cache = redis_cache(&backend, CacheBuilder::new()).await;
    switch_codecs(&cache, Some(&backend)).await;
    // The in-process store keeps decoded values: a kept value of the other codec's site must
    // not be served either.
    AS_JSON_RUNS.store(0, Ordering::SeqCst);
    AS_PACKED_RUNS.store(0, Ordering::SeqCst);
    let cache = CacheBuilder::new().build().await.unwrap();
    switch_codecs(&cache, None).await;
}

// Garbage -------------------------------------------------------------------------------------

static GARBAGE_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached(
    key = "garbage:{id}",
    ttl = "1h",
    codec = "msgpack",
    compress_above = "1kb"
)]
async fn garbage(id: u32) -> Sample {
    GARBAGE_RUNS.fetch_add(1, Ordering::SeqCst);
    sample(id)
}

static GARBAGE_JSON_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached(key = "garbage_json:{id}", ttl = "1h", compress_above = "1kb")]
async fn garbage_json(id: u32) -> Vec<String> {
    GARBAGE_JSON_RUNS.fetch_add(1, Ordering::SeqCst);
    lines(id)
}

/// Random bytes behind every prefix the framing knows, and a few that it does not.
fn garbage_entries() -> Vec<Vec<u8>> {
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut random = |n: usize| -> Vec<u8> {
        (0..n)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                seed as u8
            })
            .collect()
    };
    let mut entries = Vec::new();
    for prefix in [
        &b"\xc1"[..],
        b"\xc1M",
        b"\xc1Z",
        b"\xc1ZJ",
        b"\xc1ZM",
        b"\xc1ZM\xff\xff\xff\xff", // claims 4 GiB
        b"\xc1ZJ\x00\x01\x00\x00", // claims 64 KiB
        b"\xc1?",
        b"\xc1\xc1",
    ] {
        for length in [0, 1, 7, 64, 2000] {
            let mut entry = prefix.to_vec();
            entry.extend(random(length));
            entries.push(entry);
        }
    }
    entries
}

async fn garbage_behind_the_frame_mark_is_a_counted_miss(backend: Backend) {
    GARBAGE_RUNS.store(0, Ordering::SeqCst);
    GARBAGE_JSON_RUNS.store(0, Ordering::SeqCst);
    let cache = redis_cache(&backend, CacheBuilder::new()).await;
    let mut redis = backend.connection().await;
    let entries = garbage_entries();
    cache
        .scope(async {
            for (id, entry) in (0u32..).zip(&entries) {
                for key in [garbage_cache(id).key(), garbage_json_cache(id).key()] {
                    let key = key.unwrap();
                    let _: () = redis::cmd("SET")
                        .arg(&key)
                        .arg(&entry[..])
                        .query_async(&mut redis)
                        .await
                        .unwrap();
                }
                assert_bit_identical(&garbage(id).await, &sample(id));
                assert_eq!(garbage_json(id).await, lines(id), "{entry:?}");
            }
            let n = entries.len();
            assert_eq!(runs(&GARBAGE_RUNS), n, "every entry was a miss");
            assert_eq!(runs(&GARBAGE_JSON_RUNS), n);
            for label in ["codec::garbage", "codec::garbage_json"] {
                let stats = policy(&cache, label);
                assert_eq!(
                    usize::try_from(stats.codec_mismatch + stats.undecodable).unwrap(),
                    n,
                    "{label}: {stats:?}"
                );
                // Planted without the envelope that carries the generations' stamp, the bytes
                // are counted by the store as not an entry (`undecodable`) before the codec sees
                // them; the codec's own checks of such frames are its unit tests.
            }
            // Each was overwritten with a good entry.
            for id in 0..u32::try_from(n).unwrap() {
                garbage(id).await;
                garbage_json(id).await;
            }
            assert_eq!(runs(&GARBAGE_RUNS), n);
            assert_eq!(runs(&GARBAGE_JSON_RUNS), n);
        })
        .await;
}

// Process-wide settings -----------------------------------------------------------------------

static DEFAULTED_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached(key = "defaulted:{n}", ttl = "1h")]
async fn defaulted(n: u32) -> Vec<String> {
    DEFAULTED_RUNS.fetch_add(1, Ordering::SeqCst);
    lines(n)
}

#[cached(
    key = "own_choice:{n}",
    ttl = "1h",
    codec = "json",
    compress_above = false
)]
async fn own_choice(n: u32) -> Vec<String> {
    lines(n)
}

async fn process_settings_apply_to_attributes_that_choose_neither(backend: Backend) {
    DEFAULTED_RUNS.store(0, Ordering::SeqCst);
    let mut redis = backend.connection().await;
    let from_env = CacheBuilder::from_vars([
        ("CACHE_CODEC".to_owned(), "msgpack".to_owned()),
        ("CACHE_COMPRESS_ABOVE".to_owned(), "2048".to_owned()),
    ])
    .unwrap();
    let from_builder = CacheBuilder::new()
        .codec(Codec::MessagePack)
        .compress_above(2048);
    for (prefix, builder) in [("env", from_env), ("builder", from_builder)] {
        let cache = redis_cache(&backend, builder.prefix(prefix)).await;
        let keys = cache
            .scope(async {
                defaulted(1000).await;
                defaulted(10).await;
                own_choice(1000).await;
                assert_eq!(defaulted(1000).await, lines(1000));
                assert_eq!(defaulted(10).await, lines(10));
                [
                    defaulted_cache(1000).key(),
                    defaulted_cache(10).key(),
                    own_choice_cache(1000).key(),
                ]
                .map(Option::unwrap)
            })
            .await;
        assert_eq!(keys[0], backend.key(&format!("{prefix}:_:defaulted:~1000")));
        let big = redis.entry(&keys[0]).await.unwrap();
        assert_eq!(&big[..3], b"\xc1ZM", "{prefix}: compressed MessagePack");
        let small = redis.entry(&keys[1]).await.unwrap();
        assert_eq!(&small[..2], b"\xc1M", "{prefix}: plain MessagePack");
        let own = redis.entry(&keys[2]).await.unwrap();
        assert_eq!(
            own,
            json(&lines(1000)),
            "{prefix}: the attribute's own choice"
        );
    }
    assert_eq!(runs(&DEFAULTED_RUNS), 4);
}

backend_tests!(
    message_pack_hits_are_bit_identical_through_redis_the_local_tier_and_the_stale_copy,
    above_the_threshold_redis_holds_fewer_bytes_and_below_it_plain_json,
    an_entry_of_the_other_codec_is_a_miss_through_redis_and_in_process,
    garbage_behind_the_frame_mark_is_a_counted_miss,
    process_settings_apply_to_attributes_that_choose_neither,
);
