//! [`Quota`]: at most `limit` per key and UTC day, e.g. API calls per user per day.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;

use super::local::LocalWindows;
use super::{count, counter_name, decision, key_parts, Decision, Source};
use crate::direct_stats::DirectCounters;
use crate::engine::Engine;
use crate::store::direct::counter_value;

const DAY: Duration = Duration::from_secs(24 * 3600);

/// A daily quota per key. Each UTC day has its own counter, `…:{key}:{YYYY-MM-DD}`, created by
/// the day's first use and expiring at the next UTC midnight, so the quota resets then on every
/// host at once. Counts like [`RateLimit`](super::RateLimit), including the per-process
/// fallback while the store does not answer.
#[derive(Debug)]
pub struct Quota {
    name: &'static str,
    limit: u64,
    local: LocalWindows,
}

impl Quota {
    /// At most `limit` uses per key and UTC day.
    pub const fn daily(name: &'static str, limit: u64) -> Self {
        Self {
            name,
            limit,
            local: LocalWindows::new(),
        }
    }

    /// Counts one use of `key` today (in the cache in use here and the current tenant).
    pub fn consume<K: Serialize + ?Sized>(
        &self,
        key: &K,
    ) -> impl Future<Output = Decision> + Send + '_ {
        let parts = key_parts("quota", self.name, key);
        async move {
            let engine = Engine::current();
            let (day, left) = today();
            let Some(name) = parts.map(|parts| counter_name(engine.as_ref(), parts)) else {
                return self.local_decision("", left, engine.as_ref());
            };
            let name = format!("{name}:{day}");
            match count(engine.as_ref(), &name, left, None).await {
                Some(counted) => decision(self.limit, counted.count, left, Source::Store),
                None => self.local_decision(&name, left, engine.as_ref()),
            }
        }
    }

    /// Uses of `key` today; `None` when the store failed (counted).
    pub async fn used<K: Serialize + ?Sized>(&self, key: &K) -> Option<u64> {
        let engine = Engine::current()?;
        let (day, _) = today();
        let name = counter_name(Some(&engine), key_parts("quota", self.name, key)?);
        let name = format!("{name}:{day}");
        match engine.direct()?.fetch(&name).await {
            Ok(bytes) => Some(counter_value(bytes.as_deref())),
            Err(_) => {
                DirectCounters::add(&engine.direct_counters().read_errors);
                None
            }
        }
    }

    fn local_decision(&self, name: &str, left: Duration, engine: Option<&Arc<Engine>>) -> Decision {
        if let Some(engine) = engine {
            DirectCounters::add(&engine.direct_counters().local_limit_decisions);
        }
        let (used, _) = self.local.increment(name, left);
        decision(self.limit, used, left, Source::Local)
    }
}

/// Today's UTC date as `YYYY-MM-DD`, and the time left until the next UTC midnight.
fn today() -> (String, Duration) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let days = now.as_secs() / DAY.as_secs();
    let since_midnight = now.saturating_sub(Duration::from_secs(days * DAY.as_secs()));
    (civil_date(days), DAY.saturating_sub(since_midnight))
}

/// Days since 1970-01-01 as a proleptic Gregorian date (Howard Hinnant's `civil_from_days`).
fn civil_date(days: u64) -> String {
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

#[cfg(test)]
mod tests {
    use super::civil_date;

    #[test]
    fn days_since_the_epoch_are_utc_dates() {
        assert_eq!(civil_date(0), "1970-01-01");
        assert_eq!(civil_date(19_782), "2024-02-29");
        assert_eq!(civil_date(20_789), "2026-12-02");
    }
}
