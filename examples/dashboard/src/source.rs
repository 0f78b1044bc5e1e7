//! A simulated slow data source: the expensive call that the cache saves.
//!
//! Every query sleeps for the configured delay (`SOURCE_DELAY_MS`, default 300 ms) and returns
//! data derived only from the tenant and the parameters, so the same question always gets the
//! same answer and tests can compare a cached response with a fresh one. The source counts its
//! queries: a request answered from the cache leaves [`Source::queries`] unchanged.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::model::{Activity, ActivityItem, Kpis, TrendPoint, Trends};

/// The delay of one query when `SOURCE_DELAY_MS` is not set.
pub const DEFAULT_DELAY: Duration = Duration::from_millis(300);

/// The simulated data source. Share it through an `Arc`.
#[derive(Debug)]
pub struct Source {
    delay: Duration,
    queries: AtomicU64,
}

impl Source {
    /// A source whose every query takes `delay`.
    pub fn new(delay: Duration) -> Self {
        Self {
            delay,
            queries: AtomicU64::new(0),
        }
    }

    /// How many queries the source has answered (or started) so far.
    pub fn queries(&self) -> u64 {
        self.queries.load(Ordering::SeqCst)
    }

    /// The headline figures of `tenant`.
    pub async fn kpis(&self, tenant: &str) -> Kpis {
        let mut numbers = self.query(&[tenant, "kpis"]).await;
        Kpis {
            tenant: tenant.to_owned(),
            revenue_cents: numbers.below(50_000_000),
            orders: numbers.below(20_000) as u32,
            active_users: numbers.below(5_000) as u32,
            conversion_rate_bps: 50 + numbers.below(950) as u32,
        }
    }

    /// `days` daily points of `tenant`, oldest first.
    pub async fn trends(&self, tenant: &str, days: u32) -> Trends {
        let mut numbers = self.query(&[tenant, "trends", &days.to_string()]).await;
        let points = (0..days)
            .map(|day| TrendPoint {
                day_offset: day as i32 - (days as i32 - 1),
                revenue_cents: numbers.below(2_000_000),
                orders: numbers.below(700) as u32,
            })
            .collect();
        Trends {
            tenant: tenant.to_owned(),
            days,
            points,
        }
    }

    /// The `limit` most recent events of `tenant`, newest first.
    pub async fn activity(&self, tenant: &str, limit: u32) -> Activity {
        const KINDS: [&str; 4] = ["order_placed", "user_signed_up", "invoice_paid", "refund"];
        const ACTORS: [&str; 5] = ["ana", "bo", "chen", "dee", "eli"];
        let mut numbers = self.query(&[tenant, "activity", &limit.to_string()]).await;
        let mut minutes_ago = 0;
        let items = (0..limit)
            .map(|index| {
                minutes_ago += 1 + numbers.below(45) as u32;
                ActivityItem {
                    id: format!("evt-{:08x}-{index}", numbers.below(u64::from(u32::MAX))),
                    kind: KINDS[numbers.below(KINDS.len() as u64) as usize].to_owned(),
                    actor: ACTORS[numbers.below(ACTORS.len() as u64) as usize].to_owned(),
                    minutes_ago,
                }
            })
            .collect();
        Activity {
            tenant: tenant.to_owned(),
            items,
        }
    }

    /// Counts the query, waits like a remote database would, and seeds the numbers.
    async fn query(&self, question: &[&str]) -> Numbers {
        self.queries.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(self.delay).await;
        Numbers::seeded(question)
    }
}

/// Deterministic pseudo-random numbers: FNV-1a of the question, then splitmix64. Not
/// `std`'s `DefaultHasher`, whose output may change between Rust releases.
struct Numbers(u64);

impl Numbers {
    fn seeded(question: &[&str]) -> Self {
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for part in question {
            // The length first, so that ("ab", "c") and ("a", "bc") seed differently.
            for byte in (part.len() as u64)
                .to_le_bytes()
                .iter()
                .chain(part.as_bytes())
            {
                hash ^= u64::from(*byte);
                hash = hash.wrapping_mul(0x0100_0000_01b3);
            }
        }
        Numbers(hash)
    }

    /// A number in `0..bound`.
    fn below(&mut self, bound: u64) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        (z ^ (z >> 31)) % bound
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_same_question_gets_the_same_answer_and_is_counted() {
        let source = Source::new(Duration::ZERO);
        assert_eq!(source.kpis("acme").await, source.kpis("acme").await);
        assert_ne!(source.kpis("acme").await, source.kpis("globex").await);
        assert_ne!(
            source.trends("acme", 7).await.points,
            source.trends("acme", 8).await.points[1..]
        );
        assert_eq!(source.queries(), 6);
    }

    #[tokio::test]
    async fn sizes_follow_the_parameters() {
        let source = Source::new(Duration::ZERO);
        let trends = source.trends("acme", 30).await;
        assert_eq!(trends.points.len(), 30);
        assert_eq!(trends.points.last().map(|p| p.day_offset), Some(0));
        assert_eq!(source.activity("acme", 10).await.items.len(), 10);
    }
}
