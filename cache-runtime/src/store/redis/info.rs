//! Health from the server itself: `PING` for the round trip, then `INFO` for what Redis says
//! about its memory, clients, hit rate and keyspace. Outside the breaker: a health check asks
//! the server even while calls skip it, and its outcome does not count as a call's.

use std::time::Instant;

use redis::RedisError;

use super::connection::Connection;
use super::RedisStore;
use crate::store::health::{RedisHealth, StoreHealth};
use crate::store::is_outage;

/// The `INFO` sections read (several at once: Redis 7.0 and later).
const SECTIONS: [&str; 6] = [
    "server",
    "memory",
    "stats",
    "clients",
    "replication",
    "keyspace",
];

impl RedisStore {
    /// `PING` and `INFO`, together within the operation timeout. On a cluster, `PING` goes to
    /// every master and `INFO` is the first master's.
    pub(crate) async fn report(&self) -> StoreHealth {
        let connection = self.connection();
        let started = Instant::now();
        let outcome =
            tokio::time::timeout(self.operation_timeout, ping_and_info(connection, started)).await;
        match outcome {
            Ok(Ok((round_trip, info))) => StoreHealth {
                reachable: true,
                round_trip: Some(round_trip),
                redis: Some(RedisHealth::from_info(&info, self.db)),
                ..StoreHealth::default()
            },
            Ok(Err(error)) if !error.is_timeout() => StoreHealth {
                error: Some(error.to_string()),
                ..StoreHealth::default()
            },
            // The connection's own response timeout is the operation timeout too.
            Ok(Err(_)) | Err(_) => StoreHealth {
                error: Some(format!(
                    "no answer within the operation timeout ({} ms)",
                    self.operation_timeout.as_millis()
                )),
                ..StoreHealth::default()
            },
        }
    }
}

async fn ping_and_info(
    mut connection: Connection,
    started: Instant,
) -> Result<(std::time::Duration, String), RedisError> {
    redis::cmd("PING")
        .query_async::<String>(&mut connection)
        .await?;
    let round_trip = started.elapsed();
    if matches!(connection, Connection::Cluster(_)) {
        if let Some(first) = connection.nodes().await?.into_iter().next() {
            connection = first;
        }
    }
    let info = match redis::cmd("INFO")
        .arg(&SECTIONS[..])
        .query_async::<String>(&mut connection)
        .await
    {
        Ok(info) => info,
        Err(error) if is_outage(&error) => return Err(error),
        // Before 7.0, INFO takes one section: the default set holds all of ours.
        Err(_) => {
            redis::cmd("INFO")
                .query_async::<String>(&mut connection)
                .await?
        }
    };
    Ok((round_trip, info))
}
