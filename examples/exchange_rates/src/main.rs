//! A walk-through of write-through caching: `cargo run -p exchange_rates`, or with
//! `REDIS_URL=redis://127.0.0.1:6379` to cache in Redis (then `redis-cli GET v1:_:rate:USD:JPY`).
//!
//! It reads a rate twice (the database, then the cache), updates it and reads the new value at
//! once without a database read, tries an invalid update (nothing changes), deletes the rate and
//! reads again (the database answers that it is gone), and shows another pair kept its entry.

use std::future::Future;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use exchange_rates::{delete_rate, rate, rate_cache, set_rate, Currency, Rate, RateDb, RateError};

#[tokio::main]
async fn main() -> ExitCode {
    let cache = match cache_runtime::init_from_env().await {
        Ok(cache) => cache,
        Err(error) => {
            eprintln!("exchange_rates: invalid cache setting: {error}");
            return ExitCode::from(2);
        }
    };
    println!("cache backend: {}", cache.stats().backend);

    let db = RateDb::new(Duration::from_millis(50));
    let pairs = [
        (Currency::Usd, Currency::Jpy, 149.8),
        (Currency::Eur, Currency::Usd, 1.08),
    ];
    for (base, quote, value) in pairs {
        if let Err(error) = db.store(base, quote, value).await {
            eprintln!("exchange_rates: seeding the database: {error}");
            return ExitCode::FAILURE;
        }
        // The database starts afresh on every run, Redis does not: drop what an earlier run
        // left under these keys, through the companion that names the same entry as `rate`.
        match rate_cache(base, quote).invalidate().await {
            Ok(true) => println!("dropped an entry an earlier run left for {base}/{quote}"),
            Ok(false) => {}
            Err(error) => eprintln!("exchange_rates: could not drop {base}/{quote}: {error}"),
        }
    }
    let (usd, jpy) = (Currency::Usd, Currency::Jpy);
    if let Some(key) = rate_cache(usd, jpy).key() {
        println!("USD/JPY is cached at {key}\n");
    }

    show(
        &db,
        "read USD/JPY (cold: asks the database)",
        rate(&db, usd, jpy),
    )
    .await;
    show(
        &db,
        "read USD/JPY again (from the cache)",
        rate(&db, usd, jpy),
    )
    .await;
    let eur = Currency::Eur;
    show(
        &db,
        "read EUR/USD (cold: asks the database)",
        rate(&db, eur, usd),
    )
    .await;
    show(
        &db,
        "set_rate USD/JPY = 151.2 (#[cache_put])",
        set_rate(&db, usd, jpy, 151.2),
    )
    .await;
    show(
        &db,
        "read USD/JPY (the new value, no database read)",
        rate(&db, usd, jpy),
    )
    .await;
    show(
        &db,
        "set_rate USD/JPY = -1 (rejected: cache unchanged)",
        set_rate(&db, usd, jpy, -1.0),
    )
    .await;
    show(&db, "read USD/JPY (still 151.2)", rate(&db, usd, jpy)).await;
    show(
        &db,
        "delete_rate USD/JPY (#[cache_evict])",
        delete_rate(&db, usd, jpy),
    )
    .await;
    show(
        &db,
        "read USD/JPY (asks the database: gone)",
        rate(&db, usd, jpy),
    )
    .await;
    show(
        &db,
        "read EUR/USD (still cached: the USD/JPY writes left it alone)",
        rate(&db, eur, usd),
    )
    .await;

    if let Some(stats) = cache.stats().policies.get("exchange_rate") {
        println!(
            "\nexchange_rate: {} hits, {} misses, {} errors",
            stats.hits, stats.misses, stats.errors
        );
    }
    ExitCode::SUCCESS
}

/// Runs one step and prints its result, its duration and the database reads it caused.
async fn show<T: Outcome>(db: &RateDb, step: &str, future: impl Future<Output = T>) {
    let reads = db.reads();
    let started = Instant::now();
    let outcome = future.await;
    let elapsed = started.elapsed();
    println!(
        "{step}\n  -> {} ({:.1} ms, {} database read{})",
        outcome.describe(),
        elapsed.as_secs_f64() * 1000.0,
        db.reads() - reads,
        if db.reads() - reads == 1 { "" } else { "s" },
    );
}

/// How a step's result is printed.
trait Outcome {
    fn describe(&self) -> String;
}

impl Outcome for Result<Rate, RateError> {
    fn describe(&self) -> String {
        match self {
            Ok(rate) => format!(
                "{}/{} = {} (revision {})",
                rate.base, rate.quote, rate.value, rate.revision
            ),
            Err(error) => format!("error: {error}"),
        }
    }
}

impl Outcome for Result<(), RateError> {
    fn describe(&self) -> String {
        match self {
            Ok(()) => "done".to_owned(),
            Err(error) => format!("error: {error}"),
        }
    }
}
