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
    /// every master, and the figures are the sums over the masters' `INFO`.
    pub(crate) async fn report(&self) -> StoreHealth {
        let connection = self.connection();
        let started = Instant::now();
        let outcome =
            tokio::time::timeout(self.operation_timeout, ping_and_info(connection, started)).await;
        match outcome {
            Ok(Ok((round_trip, infos))) => StoreHealth {
                reachable: true,
                round_trip: Some(round_trip),
                redis: RedisHealth::sum(
                    infos
                        .iter()
                        .map(|info| RedisHealth::from_info(info, self.db))
                        .collect(),
                ),
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

/// The round trip of `PING`, and `INFO` of every node that holds keys (the server, or each
/// master of a cluster).
async fn ping_and_info(
    mut connection: Connection,
    started: Instant,
) -> Result<(std::time::Duration, Vec<String>), RedisError> {
    redis::cmd("PING")
        .query_async::<String>(&mut connection)
        .await?;
    let round_trip = started.elapsed();
    let mut infos = Vec::new();
    for node in connection.nodes().await? {
        infos.push(info(node).await?);
    }
    Ok((round_trip, infos))
}

async fn info(mut connection: Connection) -> Result<String, RedisError> {
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
    Ok(info)
}
