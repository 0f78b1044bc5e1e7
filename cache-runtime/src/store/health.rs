//! What a store says about its own health: the answer of [`super::Store::health`], which
//! `crate::health` puts together with the runtime's counters and breaker.

use std::time::Duration;

use serde::Serialize;

/// A store's own report.
#[derive(Debug, Clone, Default)]
pub(crate) struct StoreHealth {
    pub(crate) reachable: bool,
    pub(crate) round_trip: Option<Duration>,
    pub(crate) error: Option<String>,
    pub(crate) redis: Option<RedisHealth>,
    pub(crate) memory: Option<MemoryHealth>,
}

/// What Redis says about itself in `INFO` (sections server, memory, stats, clients,
/// replication, keyspace). A field is `None` when the server left it out (a proxy, an ACL that
/// hides a section).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[non_exhaustive]
pub struct RedisHealth {
    /// `redis_version`, e.g. `7.0.15`.
    pub version: Option<String>,
    /// `role`: `master` or `slave` (a replica refuses writes).
    pub role: Option<String>,
    /// `used_memory`, in bytes.
    pub used_memory: Option<u64>,
    /// `used_memory_human`, e.g. `1.02M`.
    pub used_memory_human: Option<String>,
    /// `maxmemory` in bytes; 0 means no limit.
    pub maxmemory: Option<u64>,
    /// `maxmemory_policy`, e.g. `allkeys-lru`.
    pub maxmemory_policy: Option<String>,
    /// `evicted_keys`: keys Redis dropped to stay under `maxmemory`.
    pub evicted_keys: Option<u64>,
    /// `keyspace_hits`: lookups of existing keys, by every client of the server.
    pub keyspace_hits: Option<u64>,
    /// `keyspace_misses`: lookups of missing keys, by every client of the server.
    pub keyspace_misses: Option<u64>,
    /// `keyspace_hits / (keyspace_hits + keyspace_misses)`; `None` before any lookup.
    pub hit_rate: Option<f64>,
    /// `connected_clients`.
    pub connected_clients: Option<u64>,
    /// `uptime_in_seconds`.
    pub uptime_in_seconds: Option<u64>,
    /// `total_commands_processed`.
    pub total_commands_processed: Option<u64>,
    /// The database of `REDIS_URL`.
    pub db: i64,
    /// Keys in that database (`INFO keyspace`; 0 when it has none).
    pub keys: u64,
}

/// Bytes as Redis writes them in `used_memory_human`: `1.02M`.
fn human(bytes: u64) -> String {
    let mut value = bytes as f64;
    for unit in ["B", "K", "M", "G", "T"] {
        if value < 1024.0 || unit == "T" {
            return if unit == "B" {
                format!("{bytes}B")
            } else {
                format!("{value:.2}{unit}")
            };
        }
        value /= 1024.0;
    }
    unreachable!("the loop returns at T")
}

/// The in-process store (or the local tier in front of Redis).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct MemoryHealth {
    /// Entries held.
    pub entries: u64,
    /// What they weigh, in bytes (keys, JSON, decoded copies, bookkeeping).
    pub weighted_size: u64,
    /// The bound, `CACHE_MEMORY_MAX_BYTES`.
    pub max_bytes: u64,
}

impl RedisHealth {
    /// Reads the fields from the text of `INFO`, for database `db`.
    pub(crate) fn from_info(info: &str, db: i64) -> Self {
        let field = |name: &str| {
            info.lines().find_map(|line| {
                let (key, value) = line.split_once(':')?;
                (key == name).then(|| value.trim().to_owned())
            })
        };
        let number = |name: &str| field(name).and_then(|value| value.parse::<u64>().ok());
        let keyspace_hits = number("keyspace_hits");
        let keyspace_misses = number("keyspace_misses");
        let hit_rate = match (keyspace_hits, keyspace_misses) {
            (Some(hits), Some(misses)) if hits + misses > 0 => {
                Some(hits as f64 / (hits + misses) as f64)
            }
            _ => None,
        };
        // `db0:keys=3,expires=3,avg_ttl=0,subexpiry=0`
        let keys = field(&format!("db{db}"))
            .and_then(|value| {
                value
                    .split(',')
                    .find_map(|pair| pair.strip_prefix("keys="))
                    .and_then(|keys| keys.parse().ok())
            })
            .unwrap_or(0);
        Self {
            version: field("redis_version"),
            role: field("role"),
            used_memory: number("used_memory"),
            used_memory_human: field("used_memory_human"),
            maxmemory: number("maxmemory"),
            maxmemory_policy: field("maxmemory_policy"),
            evicted_keys: number("evicted_keys"),
            keyspace_hits,
            keyspace_misses,
            hit_rate,
            connected_clients: number("connected_clients"),
            uptime_in_seconds: number("uptime_in_seconds"),
            total_commands_processed: number("total_commands_processed"),
            db,
            keys,
        }
    }

    /// A cluster's health from its masters' (`parts`, not empty): counts and sizes summed, the
    /// hit rate over the sums, the shortest uptime; version, role and policy of the first.
    pub(crate) fn sum(parts: Vec<RedisHealth>) -> Option<Self> {
        let mut parts = parts.into_iter();
        let mut total = parts.next()?;
        let add = |a: &mut Option<u64>, b: Option<u64>| {
            *a = a.zip(b).map(|(a, b)| a.saturating_add(b));
        };
        for part in parts {
            add(&mut total.used_memory, part.used_memory);
            add(&mut total.maxmemory, part.maxmemory);
            add(&mut total.evicted_keys, part.evicted_keys);
            add(&mut total.keyspace_hits, part.keyspace_hits);
            add(&mut total.keyspace_misses, part.keyspace_misses);
            add(&mut total.connected_clients, part.connected_clients);
            add(
                &mut total.total_commands_processed,
                part.total_commands_processed,
            );
            total.uptime_in_seconds = match (total.uptime_in_seconds, part.uptime_in_seconds) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            total.keys = total.keys.saturating_add(part.keys);
            if total.maxmemory_policy != part.maxmemory_policy {
                // One node's `noeviction` is enough to refuse writes there: keep the worst.
                if part.maxmemory_policy.as_deref() == Some("noeviction") {
                    total.maxmemory_policy = part.maxmemory_policy;
                }
            }
        }
        total.used_memory_human = total.used_memory.map(human);
        total.hit_rate = match (total.keyspace_hits, total.keyspace_misses) {
            (Some(hits), Some(misses)) if hits + misses > 0 => {
                Some(hits as f64 / (hits + misses) as f64)
            }
            _ => None,
        };
        Some(total)
    }

    /// What an operator should know: a policy that makes a full Redis refuse cache writes.
    pub(crate) fn warnings(&self) -> Vec<String> {
        let mut warnings = Vec::new();
        if self.maxmemory_policy.as_deref() == Some("noeviction") {
            warnings.push(
                "maxmemory_policy is noeviction: once Redis reaches maxmemory it refuses cache writes (OOM) instead of evicting old entries; set maxmemory and maxmemory-policy allkeys-lru (or volatile-lru) on a server used as a cache"
                    .to_owned(),
            );
        }
        if self.role.as_deref() == Some("slave") {
            warnings.push("the server is a replica: it refuses cache writes (READONLY); point REDIS_URL at the primary".to_owned());
        }
        warnings
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const INFO: &str = "# Server\r\nredis_version:7.0.15\r\nuptime_in_seconds:42\r\n\r\n# Clients\r\nconnected_clients:3\r\n# Memory\r\nused_memory:1048576\r\nused_memory_human:1.00M\r\nmaxmemory:0\r\nmaxmemory_policy:noeviction\r\n# Stats\r\ntotal_commands_processed:17\r\nevicted_keys:0\r\nkeyspace_hits:3\r\nkeyspace_misses:1\r\n# Replication\r\nrole:master\r\n# Keyspace\r\ndb0:keys=5,expires=5,avg_ttl=0\r\ndb2:keys=7,expires=0,avg_ttl=0\r\n";

    #[test]
    fn a_clusters_figures_are_the_sums_over_its_masters() {
        let other = INFO
            .replace("uptime_in_seconds:42", "uptime_in_seconds:7")
            .replace("keyspace_hits:3", "keyspace_hits:5")
            .replace(
                "maxmemory_policy:noeviction",
                "maxmemory_policy:allkeys-lru",
            );
        let mut first = RedisHealth::from_info(&other, 0);
        first.maxmemory_policy = Some("allkeys-lru".to_owned());
        let total =
            RedisHealth::sum(vec![first, RedisHealth::from_info(INFO, 0)]).expect("two masters");
        assert_eq!(total.keys, 10);
        assert_eq!(total.used_memory, Some(2 << 20));
        assert_eq!(total.used_memory_human.as_deref(), Some("2.00M"));
        assert_eq!(
            (total.keyspace_hits, total.keyspace_misses),
            (Some(8), Some(2))
        );
        assert_eq!(total.hit_rate, Some(0.8));
        assert_eq!(total.connected_clients, Some(6));
        assert_eq!(total.total_commands_processed, Some(34));
        assert_eq!(total.uptime_in_seconds, Some(7));
        // One master that refuses writes when full is worth a warning.
        assert_eq!(total.maxmemory_policy.as_deref(), Some("noeviction"));
        assert_eq!(RedisHealth::sum(Vec::new()), None);
        assert_eq!(human(512), "512B");
        assert_eq!(human(1536), "1.50K");
    }

    #[test]
    fn info_fields_are_read() {
        let health = RedisHealth::from_info(INFO, 2);
        assert_eq!(health.version.as_deref(), Some("7.0.15"));
        assert_eq!(health.role.as_deref(), Some("master"));
        assert_eq!(health.used_memory, Some(1 << 20));
        assert_eq!(health.used_memory_human.as_deref(), Some("1.00M"));
        assert_eq!(health.hit_rate, Some(0.75));
        assert_eq!(health.connected_clients, Some(3));
        assert_eq!(health.uptime_in_seconds, Some(42));
        assert_eq!(health.total_commands_processed, Some(17));
        assert_eq!(health.keys, 7);
        assert_eq!(RedisHealth::from_info(INFO, 1).keys, 0);
        assert!(health.warnings()[0].contains("noeviction"));
    }
}
