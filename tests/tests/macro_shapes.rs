//! The shapes of function `#[cached]` wraps, against the in-process store: which results are
//! cached, which arguments make the key, and how the body still behaves like the function's own.
//!
//! Every test builds its own cache and runs its calls in [`Cache::scope`], so tests run in
//! parallel without sharing entries. Each cached function belongs to one test and counts its
//! executions, so a count says exactly when the body ran and when the cache answered.

use std::fmt::Debug;
use std::num::ParseIntError;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use cache_runtime::{cached, tenant, Cache, CacheBuilder, Policy};
use serde::{Deserialize, Serialize};

async fn memory_cache() -> Cache {
    let cache = CacheBuilder::new()
        .build()
        .await
        .expect("the in-process cache builds");
    assert_eq!(cache.stats().backend, "memory");
    cache
}

fn runs(counter: &AtomicUsize) -> usize {
    counter.load(Ordering::SeqCst)
}

fn count(counter: &AtomicUsize) {
    counter.fetch_add(1, Ordering::SeqCst);
}

// --- Return types -------------------------------------------------------------------------

static PARSE_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached(key = "parse:{text}", ttl = "1m")]
async fn parse(text: &str) -> Result<u64, String> {
    count(&PARSE_RUNS);
    text.parse()
        .map_err(|_| format!("`{text}` is not a number"))
}

#[tokio::test]
async fn result_caches_ok_and_returns_err_uncached() {
    let cache = memory_cache().await;
    cache
        .scope(async {
            assert_eq!(parse("42").await, Ok(42));
            assert_eq!(parse("42").await, Ok(42));
            assert_eq!(runs(&PARSE_RUNS), 1, "the second Ok comes from the cache");

            let error = Err("`x` is not a number".to_owned());
            assert_eq!(parse("x").await, error);
            assert_eq!(parse("x").await, error);
            assert_eq!(runs(&PARSE_RUNS), 3, "an Err is returned, never cached");
        })
        .await;
}

static FIND_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached(key = "find:{id}", ttl = Policy::UserSession)]
async fn find(id: u32) -> Option<String> {
    count(&FIND_RUNS);
    (id % 2 == 0).then(|| format!("user-{id}"))
}

#[tokio::test]
async fn option_caches_some_and_returns_none_uncached() {
    let cache = memory_cache().await;
    cache
        .scope(async {
            assert_eq!(find(2).await.as_deref(), Some("user-2"));
            assert_eq!(find(2).await.as_deref(), Some("user-2"));
            assert_eq!(runs(&FIND_RUNS), 1);

            assert_eq!(find(3).await, None);
            assert_eq!(find(3).await, None);
            assert_eq!(runs(&FIND_RUNS), 3, "None is returned, never cached");
        })
        .await;
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Summary {
    total: u64,
    names: Vec<String>,
}

static SUMMARY_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached(key = "summary:{team}", ttl = "1m")]
async fn summary(team: &str) -> Summary {
    count(&SUMMARY_RUNS);
    Summary {
        total: team.len() as u64,
        names: vec![team.to_uppercase()],
    }
}

#[tokio::test]
async fn a_plain_type_is_cached_as_it_is() {
    let cache = memory_cache().await;
    cache
        .scope(async {
            let expected = Summary {
                total: 4,
                names: vec!["CORE".to_owned()],
            };
            assert_eq!(summary("core").await, expected);
            assert_eq!(summary("core").await, expected);
            assert_eq!(runs(&SUMMARY_RUNS), 1);
        })
        .await;
}

static NOTIFY_RUNS: AtomicUsize = AtomicUsize::new(0);
static SEND_RUNS: AtomicUsize = AtomicUsize::new(0);

/// `()` is a plain type like any other: it is cached, so the body runs once per key and TTL.
/// This makes `#[cached]` on a side-effecting function an "at most once per TTL" guard, which is
/// what the rule "any other type is cached as it is" implies.
#[cached(key = "notify:{user}", ttl = "1m")]
async fn notify(user: &str) {
    let _ = user;
    count(&NOTIFY_RUNS);
}

/// `Result<(), E>`: `Ok(())` is cached like any other `Ok`.
#[cached(key = "send:{user}", ttl = "1m")]
async fn send(user: &str) -> Result<(), String> {
    count(&SEND_RUNS);
    if user.is_empty() {
        return Err("no recipient".to_owned());
    }
    Ok(())
}

#[tokio::test]
async fn unit_results_are_cached_so_the_body_runs_once_per_ttl() {
    let cache = memory_cache().await;
    cache
        .scope(async {
            notify("ann").await;
            notify("ann").await;
            assert_eq!(runs(&NOTIFY_RUNS), 1);
            notify("bob").await;
            assert_eq!(runs(&NOTIFY_RUNS), 2);

            assert_eq!(send("ann").await, Ok(()));
            assert_eq!(send("ann").await, Ok(()));
            assert_eq!(runs(&SEND_RUNS), 1);
            assert!(send("").await.is_err());
            assert!(send("").await.is_err());
            assert_eq!(runs(&SEND_RUNS), 3);
        })
        .await;
}

// --- Methods, generics, `impl Trait`, references, fields -----------------------------------

static CLIENT_RUNS: AtomicUsize = AtomicUsize::new(0);

struct Client {
    region: String,
    /// Not part of the key: two clients of one region share entries.
    name: &'static str,
}

impl Client {
    #[cached(key = "client_quote:{self.region}:{ticker}", ttl = Policy::StockPrice)]
    async fn quote(&self, ticker: &str) -> String {
        count(&CLIENT_RUNS);
        format!("{}:{}:{ticker}", self.name, self.region)
    }
}

#[tokio::test]
async fn methods_key_on_the_receivers_fields() {
    let cache = memory_cache().await;
    let tokyo = Client {
        region: "jp".to_owned(),
        name: "tokyo",
    };
    let osaka = Client {
        region: "jp".to_owned(),
        name: "osaka",
    };
    let london = Client {
        region: "uk".to_owned(),
        name: "london",
    };
    cache
        .scope(async {
            assert_eq!(tokyo.quote("7203").await, "tokyo:jp:7203");
            assert_eq!(london.quote("7203").await, "london:uk:7203");
            assert_eq!(runs(&CLIENT_RUNS), 2, "another region is another entry");
            assert_eq!(
                osaka.quote("7203").await,
                "tokyo:jp:7203",
                "the same region reads the entry whichever instance wrote it"
            );
            assert_eq!(runs(&CLIENT_RUNS), 2);
        })
        .await;
}

static DESCRIBE_RUNS: AtomicUsize = AtomicUsize::new(0);
static DESCRIBE_DERIVED_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached(key = "describe:{value}", ttl = "1m")]
async fn describe<T: Serialize + Debug>(value: T) -> String {
    count(&DESCRIBE_RUNS);
    format!("{value:?}")
}

#[cached(ttl = "1m")]
async fn describe_derived<T: Serialize + Debug>(value: T) -> String {
    count(&DESCRIBE_DERIVED_RUNS);
    format!("{value:?}")
}

#[tokio::test]
async fn generic_functions_key_on_their_arguments() {
    let cache = memory_cache().await;
    cache
        .scope(async {
            assert_eq!(describe(7_u32).await, "7");
            assert_eq!(describe(7_u32).await, "7");
            assert_eq!(describe(vec![1, 2]).await, "[1, 2]");
            assert_eq!(runs(&DESCRIBE_RUNS), 2);
            // A template is the whole key: `7_u32` and `7_u64` share `~7`, whatever their type,
            // but a key keeps the JSON kind: "7" is `7`, another entry (3 runs, not 2 or 4).
            assert_eq!(describe(7_u64).await, "7");
            assert_eq!(describe("7").await, "\"7\"");
            assert_eq!(runs(&DESCRIBE_RUNS), 3);

            // A derived key also holds the type parameters: `::<u32>` and `::<&str>` are two
            // functions.
            assert_eq!(describe_derived(7_u32).await, "7");
            assert_eq!(describe_derived("7").await, "\"7\"");
            assert_eq!(describe_derived(7_u32).await, "7");
            assert_eq!(runs(&DESCRIBE_DERIVED_RUNS), 2);
        })
        .await;
}

static GREET_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached(key = "greet:{name}", ttl = "1m")]
async fn greet(name: impl AsRef<str> + Serialize) -> String {
    count(&GREET_RUNS);
    format!("hello {}", name.as_ref())
}

#[tokio::test]
async fn impl_trait_arguments_key_on_their_value() {
    let cache = memory_cache().await;
    cache
        .scope(async {
            assert_eq!(greet("ann").await, "hello ann");
            assert_eq!(greet(String::from("ann")).await, "hello ann");
            assert_eq!(runs(&GREET_RUNS), 1, "`&str` and `String` render alike");
            assert_eq!(greet(Box::<str>::from("bob")).await, "hello bob");
            assert_eq!(runs(&GREET_RUNS), 2);
        })
        .await;
}

static TOTAL_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached(key = "total:{label}:{values}", ttl = "1m")]
async fn total(label: &str, values: &[u32]) -> String {
    count(&TOTAL_RUNS);
    format!("{label}={}", values.iter().sum::<u32>())
}

#[tokio::test]
async fn reference_arguments_key_on_what_they_point_to() {
    let cache = memory_cache().await;
    cache
        .scope(async {
            let label = String::from("a:b");
            assert_eq!(total(&label, &[1, 2, 3]).await, "a:b=6");
            let values: Vec<u32> = (1..=3).collect();
            assert_eq!(total("a:b", &values).await, "a:b=6");
            assert_eq!(runs(&TOTAL_RUNS), 1);
            assert_eq!(total("a:b", &[3, 2, 1]).await, "a:b=6");
            assert_eq!(total("a", &[]).await, "a=0");
            assert_eq!(runs(&TOTAL_RUNS), 3);
        })
        .await;
}

#[derive(Serialize)]
struct Account {
    id: u64,
    region: String,
    /// Not in the key: `{account.id}` says the id alone identifies the result.
    display_name: String,
}

#[derive(Serialize)]
struct Pair(&'static str, &'static str);

static BALANCE_RUNS: AtomicUsize = AtomicUsize::new(0);
static RATE_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached(key = "balance:{account.region}:{account.id}", ttl = "1m")]
async fn balance(account: &Account) -> String {
    count(&BALANCE_RUNS);
    format!("{}:{}", account.display_name, account.id * 10)
}

#[cached(key = "rate:{pair.0}:{pair.1}", ttl = "90s")]
async fn rate(pair: Pair) -> Option<String> {
    count(&RATE_RUNS);
    (pair.0 != pair.1).then(|| format!("{}/{}", pair.0, pair.1))
}

#[tokio::test]
async fn field_placeholders_key_on_the_named_fields_only() {
    let cache = memory_cache().await;
    let account = |id, region: &str, name: &str| Account {
        id,
        region: region.to_owned(),
        display_name: name.to_owned(),
    };
    cache
        .scope(async {
            assert_eq!(balance(&account(1, "jp", "ann")).await, "ann:10");
            assert_eq!(balance(&account(1, "jp", "renamed")).await, "ann:10");
            assert_eq!(runs(&BALANCE_RUNS), 1, "display_name is not in the key");
            assert_eq!(balance(&account(1, "uk", "ann")).await, "ann:10");
            assert_eq!(balance(&account(2, "jp", "ann")).await, "ann:20");
            assert_eq!(runs(&BALANCE_RUNS), 3);

            assert_eq!(rate(Pair("USD", "JPY")).await.as_deref(), Some("USD/JPY"));
            assert_eq!(rate(Pair("USD", "JPY")).await.as_deref(), Some("USD/JPY"));
            assert_eq!(rate(Pair("JPY", "USD")).await.as_deref(), Some("JPY/USD"));
            assert_eq!(runs(&RATE_RUNS), 2);
        })
        .await;
}

static HEADLINES_RUNS: AtomicUsize = AtomicUsize::new(0);
static HEADLINES_AGAIN_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached(ttl = Policy::NewsData)]
async fn headlines(topic: &str, limit: u8) -> Vec<String> {
    count(&HEADLINES_RUNS);
    (0..limit).map(|i| format!("{topic} {i}")).collect()
}

/// Same arguments, another function: the derived key starts with the function's path.
#[cached(ttl = Policy::NewsData)]
async fn headlines_again(topic: &str, limit: u8) -> Vec<String> {
    count(&HEADLINES_AGAIN_RUNS);
    vec![format!("{topic} again"); usize::from(limit)]
}

#[tokio::test]
async fn a_derived_key_holds_the_function_and_every_argument() {
    let cache = memory_cache().await;
    cache
        .scope(async {
            assert_eq!(headlines("rates", 2).await, ["rates 0", "rates 1"]);
            assert_eq!(headlines("rates", 2).await, ["rates 0", "rates 1"]);
            assert_eq!(runs(&HEADLINES_RUNS), 1);
            assert_eq!(headlines("rates", 1).await, ["rates 0"]);
            assert_eq!(headlines("fx", 2).await, ["fx 0", "fx 1"]);
            assert_eq!(runs(&HEADLINES_RUNS), 3);

            assert_eq!(headlines_again("rates", 1).await, ["rates again"]);
            assert_eq!(runs(&HEADLINES_AGAIN_RUNS), 1);
        })
        .await;
}

// --- Options: version, tenant, require_tenant, ttl ------------------------------------------

static PROFILE_V1_RUNS: AtomicUsize = AtomicUsize::new(0);
static PROFILE_V1_TWIN_RUNS: AtomicUsize = AtomicUsize::new(0);
static PROFILE_V2_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached(key = "profile:{id}", ttl = "1m", version = 1)]
async fn profile_v1(id: u32) -> String {
    count(&PROFILE_V1_RUNS);
    format!("v1 profile {id}")
}

/// The same template and version as `profile_v1`: the same entry. The control of the test
/// below: without it, the version test could pass because templates never shared anything.
#[cached(key = "profile:{id}", ttl = "1m", version = 1)]
async fn profile_v1_twin(id: u32) -> String {
    count(&PROFILE_V1_TWIN_RUNS);
    format!("v1 twin profile {id}")
}

#[cached(key = "profile:{id}", ttl = "1m", version = 2)]
async fn profile_v2(id: u32) -> String {
    count(&PROFILE_V2_RUNS);
    format!("v2 profile {id}")
}

#[tokio::test]
async fn a_new_version_does_not_read_entries_of_the_old_one() {
    let cache = memory_cache().await;
    cache
        .scope(async {
            assert_eq!(profile_v1(7).await, "v1 profile 7");
            assert_eq!(
                profile_v1_twin(7).await,
                "v1 profile 7",
                "same template, same version: same entry"
            );
            assert_eq!(runs(&PROFILE_V1_TWIN_RUNS), 0);

            assert_eq!(profile_v2(7).await, "v2 profile 7");
            assert_eq!(profile_v2(7).await, "v2 profile 7");
            assert_eq!(runs(&PROFILE_V2_RUNS), 1, "version 2 has its own entry");
            assert_eq!(profile_v1(7).await, "v1 profile 7");
            assert_eq!(runs(&PROFILE_V1_RUNS), 1, "and version 1 keeps its own");
        })
        .await;
}

static REPORT_RUNS: AtomicUsize = AtomicUsize::new(0);
static REPORT_SCOPED_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached(key = "report:{day}", ttl = "1m", tenant = tenant_id)]
async fn report(tenant_id: &str, day: u32) -> String {
    count(&REPORT_RUNS);
    format!("{tenant_id} day {day}")
}

/// The same template without `tenant`: its tenant comes from the scope.
#[cached(key = "report:{day}", ttl = "1m")]
async fn report_scoped(day: u32) -> String {
    count(&REPORT_SCOPED_RUNS);
    format!("{:?} day {day}", tenant::current())
}

#[tokio::test]
async fn a_tenant_argument_keys_like_a_tenant_scope() {
    let cache = memory_cache().await;
    cache
        .scope(async {
            assert_eq!(report("acme", 1).await, "acme day 1");
            assert_eq!(report("acme", 1).await, "acme day 1");
            assert_eq!(report("globex", 1).await, "globex day 1");
            assert_eq!(runs(&REPORT_RUNS), 2, "one entry per tenant");

            // The argument wins over an enclosing scope.
            let inside = tenant::scope("globex", report("acme", 1)).await;
            assert_eq!(inside, "acme day 1");
            assert_eq!(runs(&REPORT_RUNS), 2);

            // `tenant = arg` writes the same tenant segment as `tenant::scope`.
            assert_eq!(tenant::scope("acme", report_scoped(1)).await, "acme day 1");
            assert_eq!(runs(&REPORT_SCOPED_RUNS), 0);
            // Outside any tenant: a segment of its own.
            assert_eq!(report_scoped(1).await, "None day 1");
            assert_eq!(runs(&REPORT_SCOPED_RUNS), 1);
        })
        .await;
}

static INVOICES_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached(key = "invoices:{month}", ttl = "1m", require_tenant)]
async fn invoices(month: u8) -> Vec<String> {
    count(&INVOICES_RUNS);
    vec![format!("{:?}/{month}", tenant::current())]
}

#[tokio::test]
async fn require_tenant_runs_uncached_outside_any_tenant() {
    let cache = memory_cache().await;
    cache
        .scope(async {
            assert_eq!(invoices(3).await, ["None/3"]);
            assert_eq!(invoices(3).await, ["None/3"]);
            assert_eq!(runs(&INVOICES_RUNS), 2, "no tenant: no cache");

            let acme = tenant::scope("acme", invoices(3)).await;
            assert_eq!(acme, [r#"Some("acme")/3"#]);
            assert_eq!(tenant::scope("acme", invoices(3)).await, acme);
            assert_eq!(runs(&INVOICES_RUNS), 3, "in a tenant: cached");
        })
        .await;
    let label = concat!(module_path!(), "::invoices");
    assert_eq!(cache.stats().policies[label].bypassed, 2);
}

static RATE_90S_RUNS: AtomicUsize = AtomicUsize::new(0);
static FLASH_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached(key = "fx:{pair}", ttl = "90s")]
async fn fx(pair: &str) -> f64 {
    count(&RATE_90S_RUNS);
    pair.len() as f64 / 4.0
}

#[cached(key = "flash:{id}", ttl = "150ms")]
async fn flash(id: u32) -> u32 {
    count(&FLASH_RUNS);
    id
}

#[tokio::test]
async fn a_literal_ttl_caches_for_that_long() {
    let cache = memory_cache().await;
    cache
        .scope(async {
            assert_eq!(fx("USDJPY").await, 1.5);
            assert_eq!(fx("USDJPY").await, 1.5);
            assert_eq!(runs(&RATE_90S_RUNS), 1);
            let label = concat!(module_path!(), "::fx");
            assert_eq!(cache.stats().policies[label].hits, 1);

            assert_eq!(flash(1).await, 1);
            assert_eq!(flash(1).await, 1);
            assert_eq!(runs(&FLASH_RUNS), 1);
            tokio::time::sleep(Duration::from_millis(400)).await;
            assert_eq!(flash(1).await, 1);
            assert_eq!(runs(&FLASH_RUNS), 2, "expired after its 150 ms");
        })
        .await;
}

// --- The body: `?`, early `return` ---------------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
enum AppError {
    Parse(ParseIntError),
    Negative,
}

impl From<ParseIntError> for AppError {
    fn from(error: ParseIntError) -> Self {
        AppError::Parse(error)
    }
}

static AMOUNT_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached(key = "amount:{text}", ttl = "1m")]
async fn amount(text: &str) -> Result<u64, AppError> {
    count(&AMOUNT_RUNS);
    if text.starts_with('-') {
        return Err(AppError::Negative);
    }
    let cents: u64 = text.parse()?;
    Ok(cents * 100)
}

#[tokio::test]
async fn question_mark_converts_errors_with_from() {
    let cache = memory_cache().await;
    cache
        .scope(async {
            assert_eq!(amount("12").await, Ok(1200));
            assert_eq!(amount("12").await, Ok(1200));
            assert_eq!(runs(&AMOUNT_RUNS), 1);
            assert!(matches!(amount("twelve").await, Err(AppError::Parse(_))));
            assert_eq!(amount("-1").await, Err(AppError::Negative));
            assert_eq!(runs(&AMOUNT_RUNS), 3);
        })
        .await;
}

static LEVEL_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached(key = "level:{score}", ttl = "1m")]
async fn level(score: u32) -> Option<String> {
    count(&LEVEL_RUNS);
    if score == 0 {
        return None;
    }
    if score >= 100 {
        return Some("gold".to_owned());
    }
    Some("silver".to_owned())
}

#[tokio::test]
async fn an_early_return_is_the_functions_result() {
    let cache = memory_cache().await;
    cache
        .scope(async {
            assert_eq!(level(0).await, None);
            assert_eq!(level(0).await, None);
            assert_eq!(runs(&LEVEL_RUNS), 2, "an early None is not cached");
            assert_eq!(level(150).await.as_deref(), Some("gold"));
            assert_eq!(level(150).await.as_deref(), Some("gold"));
            assert_eq!(runs(&LEVEL_RUNS), 3, "an early Some is");
            assert_eq!(level(5).await.as_deref(), Some("silver"));
            assert_eq!(runs(&LEVEL_RUNS), 4);
        })
        .await;
}

// --- Single flight ------------------------------------------------------------------------

const CALLERS: usize = 50;

/// Runs `CALLERS` concurrent calls of `call` as separate tasks, each in `cache`'s scope.
async fn concurrently<F, Fut>(cache: &Cache, call: F) -> Vec<Fut::Output>
where
    F: Fn() -> Fut,
    Fut: std::future::Future + Send + 'static,
    Fut::Output: Send + 'static,
{
    let tasks: Vec<_> = (0..CALLERS)
        .map(|_| {
            let cache = cache.clone();
            let future = call();
            tokio::spawn(async move { cache.scope(future).await })
        })
        .collect();
    let mut results = Vec::with_capacity(CALLERS);
    for task in tasks {
        results.push(task.await.expect("a caller task panicked"));
    }
    results
}

static SLOW_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached(key = "slow:{id}", ttl = "1m")]
async fn slow(id: u32) -> String {
    count(&SLOW_RUNS);
    tokio::time::sleep(Duration::from_millis(50)).await;
    format!("value {id}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_callers_of_a_cold_key_run_the_body_once() {
    let cache = memory_cache().await;
    let results = concurrently(&cache, || slow(1)).await;
    assert!(
        results.iter().all(|value| value == "value 1"),
        "{results:?}"
    );
    assert_eq!(runs(&SLOW_RUNS), 1);
}

#[derive(Debug, Clone, PartialEq)]
struct Unavailable(u32);

static SLOW_FAILURE_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached(key = "slow_failure:{id}", ttl = "1m")]
async fn slow_failure(id: u32) -> Result<String, Unavailable> {
    count(&SLOW_FAILURE_RUNS);
    tokio::time::sleep(Duration::from_millis(50)).await;
    Err(Unavailable(id))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_callers_share_a_cloneable_err_without_caching_it() {
    let cache = memory_cache().await;
    let results = concurrently(&cache, || slow_failure(2)).await;
    assert_eq!(results.len(), CALLERS);
    assert!(
        results.iter().all(|result| *result == Err(Unavailable(2))),
        "{results:?}"
    );
    assert_eq!(
        runs(&SLOW_FAILURE_RUNS),
        1,
        "followers got the leader's Err"
    );

    // Not cached: the next call runs the body again.
    assert_eq!(cache.scope(slow_failure(2)).await, Err(Unavailable(2)));
    assert_eq!(runs(&SLOW_FAILURE_RUNS), 2);
}

/// An error that cannot be cloned, so it cannot be handed to followers.
#[derive(Debug)]
struct Opaque;

static SLOW_OPAQUE_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached(key = "slow_opaque:{id}", ttl = "1m")]
async fn slow_opaque(id: u32) -> Result<String, Opaque> {
    let _ = id;
    count(&SLOW_OPAQUE_RUNS);
    tokio::time::sleep(Duration::from_millis(50)).await;
    Err(Opaque)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn without_clone_each_follower_runs_the_body_itself() {
    let cache = memory_cache().await;
    let results = concurrently(&cache, || slow_opaque(3)).await;
    assert!(results.iter().all(Result::is_err));
    assert_eq!(runs(&SLOW_OPAQUE_RUNS), CALLERS);
}
