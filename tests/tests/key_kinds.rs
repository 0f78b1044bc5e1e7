//! Key arguments of every JSON kind, against the in-process store: values that differ only in
//! their kind (the string `"7"` and the number `7`, `true` and `"true"`, `null` and `"null"`)
//! never share an entry, and equal maps always do, whatever their iteration order.
//!
//! Each cached function belongs to one test and counts its runs, so a count says exactly when
//! the body ran and when the cache answered. The property tests read keys through the
//! generated companions (`<name>_cache(…).key()`), i.e. through the expansion and the runtime
//! that real calls use.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Debug;
use std::sync::atomic::{AtomicUsize, Ordering};

use cache_runtime::{cached, Cache, CacheBuilder};
use proptest::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

async fn memory_cache() -> Cache {
    CacheBuilder::new()
        .build()
        .await
        .expect("the in-process cache builds")
}

fn runs(counter: &AtomicUsize) -> usize {
    counter.load(Ordering::SeqCst)
}

fn count(counter: &AtomicUsize) {
    counter.fetch_add(1, Ordering::SeqCst);
}

// --- Untagged enums: a number and a string with the same text ------------------------------

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
enum Id {
    Num(u64),
    Name(String),
    Flag(bool),
}

static BY_ID_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached(key = "id:{id}", ttl = "1m")]
async fn by_id(id: Id) -> String {
    count(&BY_ID_RUNS);
    format!("{id:?}")
}

#[tokio::test]
async fn an_untagged_number_and_string_with_the_same_text_are_two_entries() {
    let cache = memory_cache().await;
    cache
        .scope(async {
            assert_eq!(by_id(Id::Name("7".into())).await, r#"Name("7")"#);
            assert_eq!(by_id(Id::Num(7)).await, "Num(7)");
            assert_eq!(by_id(Id::Name("true".into())).await, r#"Name("true")"#);
            assert_eq!(by_id(Id::Flag(true)).await, "Flag(true)");
            assert_eq!(runs(&BY_ID_RUNS), 4, "each kind is its own entry");
            assert_eq!(by_id(Id::Num(7)).await, "Num(7)");
            assert_eq!(by_id(Id::Name("7".into())).await, r#"Name("7")"#);
            assert_eq!(runs(&BY_ID_RUNS), 4, "and each is a hit the second time");
            assert_eq!(
                by_id_cache(Id::Name("7".into())).key().unwrap(),
                "v1:_:id:7"
            );
            assert_eq!(by_id_cache(Id::Num(7)).key().unwrap(), "v1:_:id:~7");
            assert_eq!(by_id_cache(Id::Flag(true)).key().unwrap(), "v1:_:id:~true");
        })
        .await;
}

// --- serde_json::Value arguments ----------------------------------------------------------

static BY_JSON_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached(key = "json:{value}", ttl = "1m")]
async fn by_json(value: Value) -> String {
    count(&BY_JSON_RUNS);
    value.to_string()
}

#[tokio::test]
async fn json_values_of_different_kinds_are_different_entries() {
    let cache = memory_cache().await;
    let values = [
        json!("7"),
        json!(7),
        json!(7.0),
        json!(true),
        json!("true"),
        json!(null),
        json!("null"),
        json!(""),
        json!([7]),
        json!(["7"]),
        json!({"a": 7}),
        json!({"a": "7"}),
    ];
    cache
        .scope(async {
            for value in &values {
                assert_eq!(by_json(value.clone()).await, value.to_string());
            }
            assert_eq!(
                runs(&BY_JSON_RUNS),
                values.len(),
                "no two values share an entry"
            );
            for value in &values {
                assert_eq!(by_json(value.clone()).await, value.to_string());
            }
            assert_eq!(
                runs(&BY_JSON_RUNS),
                values.len(),
                "each is a hit the second time"
            );
        })
        .await;
}

// --- Derived keys over `impl Serialize` -------------------------------------------------------

static DESCRIBE_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached(ttl = "1m")]
async fn describe(value: impl Serialize + Debug) -> String {
    count(&DESCRIBE_RUNS);
    format!("{value:?}")
}

#[tokio::test]
async fn a_derived_key_keeps_a_string_and_a_number_apart() {
    let cache = memory_cache().await;
    cache
        .scope(async {
            assert_eq!(describe("1").await, r#""1""#);
            assert_eq!(describe(1_u32).await, "1");
            assert_eq!(describe(true).await, "true");
            assert_eq!(describe("true").await, r#""true""#);
            assert_eq!(runs(&DESCRIBE_RUNS), 4);
            assert_eq!(describe(1_u32).await, "1");
            assert_eq!(describe("1").await, r#""1""#);
            assert_eq!(runs(&DESCRIBE_RUNS), 4);
        })
        .await;
}

// --- Maps ---------------------------------------------------------------------------------------

static TOTAL_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached(key = "total:{weights}", ttl = "1m")]
async fn total(weights: HashMap<String, u32>) -> u32 {
    count(&TOTAL_RUNS);
    weights.values().sum()
}

/// The same 12 entries, inserted starting at `start`: equal maps, each with its own hasher.
fn weights(start: usize) -> HashMap<String, u32> {
    let mut map = HashMap::new();
    for i in 0..12 {
        let n = (start + i) % 12;
        map.insert(format!("k{n}"), n as u32);
    }
    map
}

#[tokio::test]
async fn equal_hash_maps_share_one_entry_whatever_their_order() {
    let cache = memory_cache().await;
    cache
        .scope(async {
            let keys: Vec<String> = (0..20)
                .map(|i| total_cache(weights(i)).key().unwrap())
                .collect();
            assert!(
                keys.iter().all(|key| *key == keys[0]),
                "one key for equal maps: {keys:#?}"
            );
            for i in 0..20 {
                assert_eq!(total(weights(i)).await, 66);
            }
            assert_eq!(runs(&TOTAL_RUNS), 1, "20 equal maps: one run, 19 hits");
            let mut other = weights(0);
            other.insert("k0".to_owned(), 1);
            assert_eq!(total(other).await, 67);
            assert_eq!(runs(&TOTAL_RUNS), 2, "a different map is another entry");
        })
        .await;
}

// --- Properties -------------------------------------------------------------------------------

/// Argument values of every JSON kind, in an untagged enum whose variants never serialize alike
/// (so two values are equal exactly when their JSON is), with nested options and maps.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
enum Arg {
    Null,
    Flag(bool),
    Int(i64),
    Real(f64),
    Text(String),
    List(Vec<Option<Option<Arg>>>),
    Map(HashMap<String, Arg>),
}

impl Arg {
    /// An equal value whose maps were built in reverse order, each with a new hasher.
    fn rebuilt(&self) -> Arg {
        match self {
            Arg::List(items) => Arg::List(
                items
                    .iter()
                    .map(|item| item.as_ref().map(|inner| inner.as_ref().map(Arg::rebuilt)))
                    .collect(),
            ),
            Arg::Map(map) => {
                let mut entries: Vec<_> = map.iter().collect();
                entries.sort_by(|a, b| b.0.cmp(a.0));
                Arg::Map(
                    entries
                        .into_iter()
                        .map(|(k, v)| (k.clone(), v.rebuilt()))
                        .collect(),
                )
            }
            other => other.clone(),
        }
    }

    /// The value with every scalar replaced by a string of the same text (`7` -> `"7"`,
    /// `true` -> `"true"`, `null` -> `"null"`): equal to `self` only when it holds no number,
    /// boolean or null, so its key must differ exactly then.
    fn as_text(&self) -> Arg {
        match self {
            Arg::Null => Arg::Text("null".to_owned()),
            Arg::Flag(b) => Arg::Text(b.to_string()),
            Arg::Int(n) => Arg::Text(n.to_string()),
            Arg::Real(f) => Arg::Text(f.to_string()),
            Arg::Text(_) => self.clone(),
            Arg::List(items) => Arg::List(
                items
                    .iter()
                    .map(|item| item.as_ref().map(|inner| inner.as_ref().map(Arg::as_text)))
                    .collect(),
            ),
            Arg::Map(map) => Arg::Map(map.iter().map(|(k, v)| (k.clone(), v.as_text())).collect()),
        }
    }
}

/// [`Arg::as_text`] for JSON values.
fn json_as_text(value: &Value) -> Value {
    match value {
        Value::Null | Value::Bool(_) | Value::Number(_) => Value::String(value.to_string()),
        Value::String(_) => value.clone(),
        Value::Array(items) => items.iter().map(json_as_text).collect(),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), json_as_text(v)))
                .collect(),
        ),
    }
}

/// Small alphabets, so that equal leaves (and texts that read like other kinds) are frequent.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just("7".to_owned()),
        Just("true".to_owned()),
        Just("null".to_owned()),
        Just("~".to_owned()),
        "[a7:~ ]{1,3}",
    ]
}

fn real() -> impl Strategy<Value = f64> {
    prop_oneof![
        Just(7.0),
        Just(0.5),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        // -0.0 == 0.0, but the two are kept apart in keys (see the README): not generated.
        any::<f64>().prop_filter("finite, not -0.0", |f| f.is_finite() && *f != 0.0),
    ]
}

fn arg() -> impl Strategy<Value = Arg> {
    let leaf = prop_oneof![
        Just(Arg::Null),
        any::<bool>().prop_map(Arg::Flag),
        (-2_i64..8).prop_map(Arg::Int),
        real().prop_map(Arg::Real),
        text().prop_map(Arg::Text),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(prop::option::of(prop::option::of(inner.clone())), 0..4)
                .prop_map(Arg::List),
            prop::collection::hash_map(text(), inner, 0..4).prop_map(Arg::Map),
        ]
    })
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        (-2_i64..8).prop_map(Value::from),
        (0_u64..3).prop_map(|n| Value::from(u64::MAX - n)),
        prop_oneof![Just(7.0), Just(0.5), Just(-1.5)].prop_map(Value::from),
        text().prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::btree_map(text(), inner, 0..4)
                .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

#[cached(key = "arg:{a}:{b}", ttl = "1m")]
async fn by_args(a: Arg, b: Option<Option<Arg>>) -> u32 {
    let _ = (a, b);
    0
}

#[cached(ttl = "1m")]
async fn by_value(value: Value) -> u32 {
    let _ = value;
    0
}

/// The key of `entry` in a fresh in-process cache.
fn key_of(
    runtime: &tokio::runtime::Runtime,
    cache: &Cache,
    key: impl FnOnce() -> Option<String>,
) -> String {
    runtime
        .block_on(cache.scope(async { key() }))
        .expect("a cache is in use")
}

fn setup() -> (tokio::runtime::Runtime, Cache) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime");
    let cache = runtime.block_on(memory_cache());
    (runtime, cache)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn distinct_arguments_never_share_a_key_and_equal_ones_always_do(
        a in (arg(), prop::option::of(prop::option::of(arg()))),
        b in (arg(), prop::option::of(prop::option::of(arg()))),
    ) {
        let (runtime, cache) = setup();
        let key = |(x, y): &(Arg, Option<Option<Arg>>)| {
            key_of(&runtime, &cache, || by_args_cache(x.clone(), y.clone()).key())
        };
        let (key_a, key_b) = (key(&a), key(&b));
        prop_assert_eq!(a == b, key_a == key_b, "{:?} / {:?}: {} / {}", a, b, key_a, key_b);
        let rebuilt = (a.0.rebuilt(), a.1.as_ref().map(|o| o.as_ref().map(Arg::rebuilt)));
        prop_assert_eq!(&key_a, &key(&rebuilt), "equal maps built in another order");
        let text = (a.0.as_text(), a.1.as_ref().map(|o| o.as_ref().map(Arg::as_text)));
        prop_assert_eq!(a == text, key_a == key(&text), "{:?} / {:?}", a, text);
    }

    #[test]
    fn distinct_json_values_never_share_a_key_and_equal_ones_always_do(
        a in json_value(),
        b in json_value(),
    ) {
        let (runtime, cache) = setup();
        let key = |v: &Value| key_of(&runtime, &cache, || by_value_cache(v.clone()).key());
        let (key_a, key_b) = (key(&a), key(&b));
        prop_assert_eq!(a == b, key_a == key_b, "{} / {}: {} / {}", a, b, key_a, key_b);
        let text = json_as_text(&a);
        prop_assert_eq!(a == text, key_a == key(&text), "{} / {}", a, text);
    }

    #[test]
    fn equal_maps_share_a_key_in_any_insertion_order(
        entries in prop::collection::vec((text(), arg()), 0..8),
    ) {
        let (runtime, cache) = setup();
        let forward: HashMap<String, Arg> = entries.iter().cloned().collect();
        // Later duplicates win in both: build the reverse from the deduplicated map.
        let sorted: BTreeMap<String, Arg> = forward.clone().into_iter().collect();
        let backward: HashMap<String, Arg> = sorted.into_iter().rev().collect();
        prop_assert_eq!(&forward, &backward);
        let key = |map: &HashMap<String, Arg>| {
            key_of(&runtime, &cache, || by_args_cache(Arg::Map(map.clone()), None).key())
        };
        prop_assert_eq!(key(&forward), key(&backward));
    }
}
