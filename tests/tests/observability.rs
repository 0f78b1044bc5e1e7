//! What a call tells the outside: the spans of `#[cached]` calls with their outcome, captured by
//! a layer of the test's own against a real `redis-server`, and the per-function counters of
//! `Stats`, kept apart for each cache even when calls alternate between caches.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use cache_runtime::{cached, CacheBuilder, Policy};
use cache_tests::inspect::redis_cache;
use cache_tests::RedisServer;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Subscriber};
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

/// A closed span: its name, its recorded fields, and the messages of the events inside it.
#[derive(Debug, Clone, Default)]
struct Closed {
    name: &'static str,
    fields: BTreeMap<String, String>,
    events: Vec<String>,
}

/// Collects every span as it closes.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<Closed>>>);

impl Capture {
    fn spans(&self, name: &str) -> Vec<Closed> {
        let spans = self.0.lock().unwrap_or_else(|p| p.into_inner());
        spans.iter().filter(|s| s.name == name).cloned().collect()
    }
}

struct Fields<'a>(&'a mut BTreeMap<String, String>);

impl Visit for Fields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Capture {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut closed = Closed {
            name: attrs.metadata().name(),
            ..Closed::default()
        };
        attrs.record(&mut Fields(&mut closed.fields));
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(closed);
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id) {
            if let Some(closed) = span.extensions_mut().get_mut::<Closed>() {
                values.record(&mut Fields(&mut closed.fields));
            }
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        if let Some(span) = ctx.event_span(event) {
            if let Some(closed) = span.extensions_mut().get_mut::<Closed>() {
                let mut fields = BTreeMap::new();
                event.record(&mut Fields(&mut fields));
                closed.events.extend(fields.remove("message"));
            }
        }
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(&id) {
            if let Some(closed) = span.extensions_mut().remove::<Closed>() {
                self.0
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(closed);
            }
        }
    }
}

/// A capture of everything at `level` and below, the default subscriber of this thread until
/// the guard drops (the tests run on a current-thread runtime).
fn capture(level: LevelFilter) -> (Capture, tracing::subscriber::DefaultGuard) {
    let capture = Capture::default();
    let subscriber = tracing_subscriber::registry().with(capture.clone().with_filter(level));
    let guard = tracing::subscriber::set_default(subscriber);
    // A callsite first hit while no subscriber wanted it caches that; ask every callsite again.
    tracing::callsite::rebuild_interest_cache();
    (capture, guard)
}

/// The tests of this file one at a time: a subscriber is per thread, but callsites' interest is
/// process-wide, so a test on another thread calling the same callsites could change what this
/// one's subscriber is shown (seen on a loaded machine: a `HIT` event missing).
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

static TRACED_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached(key = "traced:{ticker}", ttl = Policy::StockPrice)]
async fn traced(ticker: &str) -> Result<u64, String> {
    TRACED_RUNS.fetch_add(1, Ordering::SeqCst);
    Ok(ticker.len() as u64)
}

const TRACED: &str = "observability::traced";

#[tokio::test]
async fn a_miss_and_a_hit_have_spans_with_their_outcome_and_no_key_at_debug() {
    let _serial = SERIAL.lock().await;
    let server = RedisServer::start();
    let cache = redis_cache(&server).await;
    let (capture, _guard) = capture(LevelFilter::DEBUG);
    for _ in 0..2 {
        assert_eq!(cache.scope(traced("7203")).await, Ok(4));
    }
    assert_eq!(TRACED_RUNS.load(Ordering::SeqCst), 1, "{}", server.log());

    let spans = capture.spans("cache.get_or_set");
    let outcomes: Vec<&str> = spans.iter().map(|s| s.fields["outcome"].as_str()).collect();
    assert_eq!(outcomes, ["miss", "hit"], "{spans:?}");
    for span in &spans {
        assert_eq!(span.fields["policy"], "stock_price");
        assert_eq!(span.fields["function"], TRACED);
        assert!(!span.fields.contains_key("key"), "a key at DEBUG: {span:?}");
    }
    assert_eq!(spans[0].events, ["MISS"]);
    assert_eq!(spans[1].events, ["HIT"]);
}

static KEYED_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached(key = "keyed:{ticker}", ttl = Policy::StockPrice)]
async fn keyed(ticker: &str) -> Result<u64, String> {
    KEYED_RUNS.fetch_add(1, Ordering::SeqCst);
    Ok(ticker.len() as u64)
}

#[tokio::test]
async fn the_key_is_recorded_at_trace_and_invalidations_have_spans() {
    let _serial = SERIAL.lock().await;
    let server = RedisServer::start();
    let cache = redis_cache(&server).await;
    let (capture, _guard) = capture(LevelFilter::TRACE);
    assert_eq!(cache.scope(keyed("6758")).await, Ok(4));
    let key = cache
        .scope(async { keyed_cache("6758").key() })
        .await
        .expect("a cache is in scope");
    cache
        .invalidate_function("observability::keyed")
        .await
        .expect("Redis answers");

    let spans = capture.spans("cache.get_or_set");
    assert_eq!(spans.len(), 1, "{spans:?}");
    assert_eq!(spans[0].fields.get("key"), Some(&key));
    let invalidations = capture.spans("cache.invalidate");
    assert_eq!(invalidations.len(), 1, "{invalidations:?}");
    assert_eq!(invalidations[0].fields["scope"], "function");
    assert_eq!(invalidations[0].fields["outcome"], "done");
    assert_eq!(KEYED_RUNS.load(Ordering::SeqCst), 1);
}

#[cached(key = "unreachable:{n}", ttl = "1m")]
async fn unreachable(n: u32) -> Option<u32> {
    Some(n)
}

#[tokio::test]
async fn a_call_while_redis_is_unreachable_is_a_fallback() {
    let _serial = SERIAL.lock().await;
    // A port with no server behind it: connection refused.
    let url = format!("redis://127.0.0.1:{}/", cache_tests::free_port());
    let cache = CacheBuilder::new()
        .redis_url(url)
        .build()
        .await
        .expect("a valid URL is not an error");
    let (capture, _guard) = capture(LevelFilter::DEBUG);
    assert_eq!(cache.scope(unreachable(3)).await, Some(3));
    let spans = capture.spans("cache.get_or_set");
    assert_eq!(spans.len(), 1, "{spans:?}");
    assert_eq!(spans[0].fields["outcome"], "fallback");
    assert_eq!(spans[0].fields["policy"], "observability::unreachable");
}

#[cached(key = "alternating:{n}", ttl = Policy::MarketData)]
async fn alternating(n: u32) -> u32 {
    n
}

#[tokio::test]
async fn each_cache_counts_its_own_calls_of_one_function_when_calls_alternate() {
    let _serial = SERIAL.lock().await;
    let server = RedisServer::start();
    let (redis, memory) = (
        redis_cache(&server).await,
        CacheBuilder::new().build().await.expect("in-process"),
    );
    for round in 0..3 {
        assert_eq!(redis.scope(alternating(1)).await, 1);
        assert_eq!(memory.scope(alternating(1)).await, 1);
        if round == 0 {
            assert_eq!(memory.scope(alternating(2)).await, 2);
        }
    }
    let function = "observability::alternating";
    let (redis, memory) = (redis.stats(), memory.stats());
    let (r, m) = (&redis.functions[function], &memory.functions[function]);
    assert_eq!((r.hits, r.misses), (2, 1), "{redis:?}");
    assert_eq!((m.hits, m.misses), (2, 2), "{memory:?}");
    assert_eq!(memory.policies["market_data"], *m);
}
