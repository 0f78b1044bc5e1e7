//! What the dashboard panels return. Every type is `Serialize + Deserialize`: it is both the
//! HTTP response body and the JSON stored in the cache.

use serde::{Deserialize, Serialize};

/// The headline figures of one tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Kpis {
    /// The tenant these figures belong to.
    pub tenant: String,
    /// Revenue over the last 30 days, in cents.
    pub revenue_cents: u64,
    /// Orders over the last 30 days.
    pub orders: u32,
    /// Users active over the last 30 days.
    pub active_users: u32,
    /// Orders per visit, in basis points (1 % = 100): integers keep the JSON exact.
    pub conversion_rate_bps: u32,
}

/// A daily series over the last `days` days.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trends {
    /// The tenant this series belongs to.
    pub tenant: String,
    /// The number of days covered, one point each.
    pub days: u32,
    /// Oldest first; the last point is today.
    pub points: Vec<TrendPoint>,
}

/// One day of a [`Trends`] series.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrendPoint {
    /// Days before today: `0` is today, `-1` yesterday.
    pub day_offset: i32,
    /// Revenue that day, in cents.
    pub revenue_cents: u64,
    /// Orders that day.
    pub orders: u32,
}

/// The most recent events of one tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Activity {
    /// The tenant these events belong to.
    pub tenant: String,
    /// Newest first, at most the requested limit.
    pub items: Vec<ActivityItem>,
}

/// One event of an [`Activity`] feed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActivityItem {
    /// A stable id of the event.
    pub id: String,
    /// What happened, e.g. `order_placed`.
    pub kind: String,
    /// Who did it.
    pub actor: String,
    /// How long ago, in minutes.
    pub minutes_ago: u32,
}
