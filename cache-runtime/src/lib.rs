//! Get-or-set caching for async functions, with one attribute.
//!
//! ```
//! use cache_runtime::{cached, Policy};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Clone, Serialize, Deserialize)]
//! struct Quote { ticker: String, price: f64 }
//!
//! #[cached(key = "quote:{ticker}", ttl = Policy::StockPrice)]
//! async fn quote(ticker: &str) -> Result<Quote, String> {
//!     Ok(Quote { ticker: ticker.to_owned(), price: 101.5 }) // an expensive call in real life
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // REDIS_URL set: Redis. Unset: the in-process store.
//! cache_runtime::init_from_env().await?;
//! let first = cache_runtime::tenant::scope("tenant-001", quote("7203")).await?;
//! let again = cache_runtime::tenant::scope("tenant-001", quote("7203")).await?;
//! assert_eq!(first.price, again.price);
//! assert_eq!(cache_runtime::stats().policies["stock_price"].hits, 1);
//! # Ok(()) }
//! ```
//!
//! The flow of a call: the expansion of [`cached`] builds the key (prefix, tenant segment,
//! escaped arguments: see the key layout in the README), then the engine looks it up in the
//! store ([`CacheBuilder`] picks Redis or the in-process store), decodes a hit from JSON, or runs
//! the function once per key at a time and stores its result with the TTL of its [`TtlPolicy`].
//! Any failure of the store is counted in [`stats`] and logged, rate-limited, and the caller gets
//! the function's own result.
//!
//! # Attribute options
//!
//! - `key = "name:{arg}:{arg.field}"`: the key template; left out, the key is the function's
//!   path and all its arguments (and, for generics, the instantiated path).
//! - `ttl = Policy::StockPrice` or `ttl = "90s"` (`ms`, `s`, `m`, `h`, `d`).
//! - `tenant = arg`: the tenant is this argument (`AsRef<str>`) instead of [`tenant::scope`].
//! - `require_tenant`: outside a tenant scope, run uncached instead of sharing one entry.
//! - `version = 2`: part of the key; bump it when the cached type changes shape.
//! - `tags = ["ticker:{ticker}"]`: for [`Cache::invalidate_tag`] and `#[cache_evict(tags = …)]`.
//! - `stale_if_error = "1h"`: when the function returns `Err`, serve the last value up to this
//!   long past its TTL.
//! - `refresh_ahead = 0.8`: after this share of the TTL, a hit is recomputed in the background
//!   (owned or `&'static` arguments only).
//! - `lock` / `lock = "5s"`: one computation per key across processes, under a Redis lease.
//! - `codec = "msgpack"` (or `"json"`): this function's codec instead of the process's
//!   ([`Codec`]); see the framing in the README.
//! - `compress_above = "4kb"` (`b`, `kb`, `mb`; or a number of bytes) / `compress_above = false`:
//!   compress larger encodings with LZ4, or never, instead of the process's threshold.
//! - `companion = false` (no `<name>_cache`, for trait impls) or `companion = other_name`.
//! - `crate = "path"`: the path of this crate where it is renamed or re-exported.
//!
//! Durations are greater than zero and at most 100 years (`"36500d"`).
//!
//! Return types: `Result<T, E>` caches only `Ok(T)`, `Option<T>` only `Some(T)`, any other type
//! as it is; a type parameter that turns out to be a `Result` runs uncached (`bypassed`). The
//! cached value must implement `Serialize` and `Deserialize`, and the return type must be
//! `Send + Sync`. `stale_if_error` needs a `Result`.
//!
//! Next to each free function, `#[cached]` generates `<name>_cache(<key arguments>)`, a
//! [`CacheEntry`] to read, invalidate or put that call's entry. [`cache_put`] (always run, then
//! store) and [`cache_evict`] (run, then delete the named entries) cover write paths;
//! [`Cache`] has the invalidations by function, tenant, policy and tag.
//!
//! # Module map
//!
//! Layers, top to bottom; a module imports only from the layers below it.
//!
//! | layer | modules | concern |
//! |---|---|---|
//! | faces | `keyspace` (typed entries behind [`keyspace!`]: [`Update`]), [`limit`] (counters, rate limits, daily quotas, the per-process fallback; the tower layer with the `tower` feature), `maintenance` ([`Cache::ping`], [`Cache::keys`], [`Cache::flush`]), `__private` (what expansions call: `Call`, `Site`; `shape`: return-type dispatch on a `probe`; `bounds`: the checks at the attribute; `instance`: generic instances in derived keys), `entry` ([`CacheEntry`]), `cache` ([`Cache`] and its invalidations), `config` ([`CacheBuilder`]; `known`: the variables, `duration`, `tls`: the TLS files), `health` ([`Health`]: the store's report with the runtime's hit rates and breaker; the background `PING`) | turning a call, a handle or the environment into engine work |
//! | engine | `engine` (`get_or_set`: the path of a call; `lookup`: the read; `write`: compute and store), with one module per strategy: `engine::flight` (single flight, re-entry), `engine::lease` (`lock`), `engine::stale` (`stale_if_error`), `engine::refresh` (`refresh_ahead`), `engine::invalidate` (deletions and their marks) with `engine::pending` (invalidations kept for replay); `engine::site` (a function's spec and identity); `engine::counters` (each site's counters in this engine, found without a lock); `engine::trace` (spans and their outcome) | what happens on a call |
//! | key layout | `key` (every name written to a store: entries, stale copies, leases, versions, index sets and marks of the in-process store, generations of Redis (`key::generation`), channel; `key::tag`: [`Tag`]), `key::part` (argument values and tenant ids as escaped key parts that keep the JSON kind), `key::canonical` (the canonical JSON of compound values: maps sorted), `key::bound` (names past `CACHE_MAX_KEY_BYTES` as a readable head and a SHA-256) | names |
//! | stores | `store` (the `Store` trait; `store::health`: what a store reports; `store::direct`: the raw operations of typed entries, counters and maintenance, in each backend's `direct` module), `store::memory` (with its weight of an entry and its books), `store::redis` (with `commands`, `generation`: invalidation by generations, the entry envelope, tombstones; `scripts`: the Lua of conditioned writes and generation bumps, `server`: version check, refused connections; `info`: `PING` and `INFO` for health), `store::tiered` | where bytes live |
//! | primitives | `breaker`, `codec`, `direct_stats`, `metrics` (`Counters`, `Stats`; `metrics::export`: the facade's handles), `policy`, `tenant` | small pieces with no knowledge of the above |
//!
//! # Optional features
//!
//! - `metrics`: counters, latency and size histograms, the breaker's state and invalidations
//!   through the `metrics` facade, labelled by policy and function (see the README's "Metrics
//!   and tracing"). Install a recorder before building the cache. Spans through `tracing` are
//!   always on, at `DEBUG` (`engine::trace`).
//! - `tower`: `limit::RateLimitLayer`, a tower layer for axum answering `429` with
//!   `Retry-After` and `RateLimit-*` headers, and `limit::client_ip`.
//! - `tls`: `rediss://` URLs, through rustls. The ring crypto provider is installed process-wide
//!   when a `rediss://` URL is built, unless the application installed one first. The CA and
//!   client certificate come from `CACHE_TLS_CA_FILE`, `CACHE_TLS_CERT_FILE` and
//!   `CACHE_TLS_KEY_FILE` (or [`CacheBuilder::tls_ca_file`] and
//!   [`CacheBuilder::tls_client_certificate`]), checked when the cache is built.
//! - `msgpack`: the MessagePack codec (`codec = "msgpack"`, `CACHE_CODEC=msgpack`), through
//!   rmp-serde.
//! - `compress`: LZ4 compression of values above a size (`compress_above = "4kb"`,
//!   `CACHE_COMPRESS_ABOVE`), through lz4_flex.
//!
//! An attribute that names a codec or compression whose feature is off does not compile, and
//! says which feature to turn on.

#![cfg_attr(
    not(test),
    deny(clippy::panic, clippy::unwrap_used, clippy::expect_used)
)]
#![warn(missing_docs)]
// Doctests, the README's included, fail on any warning except unused items (fragments have them),
// so an expansion that warns on a documented example is caught.
#![doc(test(attr(deny(warnings), allow(unused))))]

extern crate self as cache_runtime;

// Top: what users and expansions call.
mod cache;
mod config;
mod entry;
mod health;
mod keyspace;
mod maintenance;
// The engine: get-or-set and its strategies.
mod engine;
// Key layout, then stores, then primitives.
mod breaker;
mod codec;
mod direct_stats;
mod key;
pub mod limit;
mod metrics;
mod policy;
mod store;
pub mod tenant;
mod warm;

#[doc(hidden)]
#[path = "private/mod.rs"]
pub mod __private;

pub(crate) use crate::__private as private;

pub use crate::breaker::BreakerState;
pub use crate::cache::Cache;
pub use crate::codec::Codec;
pub use crate::config::{CacheBuilder, ConfigError};
pub use crate::direct_stats::DirectStats;
pub use crate::engine::invalidate::InvalidateError;
pub use crate::entry::CacheEntry;
pub use crate::health::{health, Health, MemoryHealth, RedisHealth};
pub use crate::key::{cluster_key, Tag};
pub use crate::keyspace::Update;
pub use crate::maintenance::{MaintenanceError, MAX_LISTED_KEYS};
pub use crate::metrics::{InvalidationStats, PolicyStats, Stats, StoreStats};
pub use crate::policy::{Policy, TtlPolicy};
pub use crate::warm::{warm, warm_with_progress, WarmOutcome, Warmed};
pub use cache_macros::{cache_evict, cache_put, cached, keyspace, TtlPolicy};

/// The README's Rust blocks as doctests: compiled, and run where they need no server, so the
/// README cannot drift from the API.
#[doc = include_str!("../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

/// The examples' index as doctests (its blocks are shell and text; a Rust block added to it is
/// compiled like the README's).
#[doc = include_str!("../../examples/README.md")]
#[cfg(doctest)]
pub struct ExamplesReadmeDoctests;

/// Builds the cache from the environment (see the table in [`CacheBuilder`]'s module docs and the
/// README) and installs it for the whole process.
///
/// A malformed setting is an error that names its variable; a valid `REDIS_URL` with no server
/// behind it is not: calls run uncached until the server answers.
pub async fn init_from_env() -> Result<Cache, ConfigError> {
    let cache = CacheBuilder::from_env()?.build().await?;
    cache.install();
    Ok(cache)
}

/// The stats of the cache in use here (see [`Cache::current`]); empty when none is installed.
pub fn stats() -> Stats {
    Cache::current().map_or_else(Stats::default, |cache| cache.stats())
}
