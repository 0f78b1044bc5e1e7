//! What the Redis store sends through: one multiplexed connection to a server, or the `redis`
//! crate's async cluster client, behind one [`ConnectionLike`] so that every command of the
//! store is written once.
//!
//! On a cluster, the client routes each command to the master of its keys' slot, splits a
//! multi-key `MGET`/`UNLINK` per slot, and follows `MOVED`, `ASK` and topology changes (a failover)
//! by itself; the store keeps the keys of each script and pipeline in one slot
//! (`crate::key::shard`). What is per node (`SCAN`, `INFO`) is sent to each master by address
//! ([`Connection::Node`]).

use std::time::Duration;

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster::{ClusterClient, ClusterConfig};
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{RoutingInfo, SingleNodeRoutingInfo};
use redis::{Client, Cmd, Pipeline, RedisError, RedisFuture, Value};

/// How the store reaches Redis, and makes a fresh connection when the old one is given up.
pub(crate) enum Connector {
    Server {
        client: Client,
        config: ConnectionManagerConfig,
    },
    Cluster {
        client: ClusterClient,
        config: ClusterConfig,
        /// A client of each node it was given, for subscriptions.
        nodes: Vec<Client>,
    },
}

impl Connector {
    /// One server: a single attempt per reconnect, bounded by `connect_timeout`, and no response
    /// timer of its own (every operation has its deadline in the store).
    pub(crate) fn server(client: Client, connect_timeout: Duration) -> Self {
        let config = ConnectionManagerConfig::new()
            .set_number_of_retries(0)
            .set_connection_timeout(Some(connect_timeout))
            .set_response_timeout(None);
        Self::Server { client, config }
    }

    /// A cluster, through `client` (built with its nodes, credentials and TLS); `nodes` are
    /// clients of the same nodes, one each.
    pub(crate) fn cluster(
        client: ClusterClient,
        nodes: Vec<Client>,
        connect_timeout: Duration,
    ) -> Self {
        let config = ClusterConfig::new().set_connection_timeout(connect_timeout);
        Self::Cluster {
            client,
            config,
            nodes,
        }
    }

    /// Where the local tier subscribes to invalidations, in the order to try them: the server,
    /// or each node given of a cluster (a `PUBLISH` on any node of a cluster reaches the
    /// subscribers of every node).
    pub(crate) fn subscriber(&self) -> Vec<Client> {
        match self {
            Self::Server { client, .. } => vec![client.clone()],
            Self::Cluster { nodes, .. } => nodes.clone(),
        }
    }

    /// The database of the URL (always 0 on a cluster), for messages.
    pub(crate) fn db(&self) -> i64 {
        match self {
            Self::Server { client, .. } => client.get_connection_info().redis_settings().db(),
            Self::Cluster { .. } => 0,
        }
    }

    /// Whether this is a cluster.
    pub(crate) fn is_cluster(&self) -> bool {
        matches!(self, Self::Cluster { .. })
    }

    /// The error of connecting to the nodes given, one at a time within `timeout` each, until one
    /// accepts (then `None`): what the cluster client does not say when it reaches no node.
    pub(crate) async fn connect_to_a_node(&self, timeout: Duration) -> Option<RedisError> {
        let Self::Cluster { nodes, .. } = self else {
            return None;
        };
        let mut last = None;
        for node in nodes {
            match tokio::time::timeout(timeout, node.get_multiplexed_async_connection()).await {
                Ok(Ok(_)) => return None,
                Ok(Err(error)) => last = Some(error),
                Err(_) => {}
            }
        }
        last
    }

    /// A connection that connects on its first request: no server needs to be up.
    pub(crate) fn connect(&self) -> Result<Connection, RedisError> {
        Ok(match self {
            Self::Server { client, config } => Connection::Server(
                ConnectionManager::new_lazy_with_config(client.clone(), config.clone())?,
            ),
            Self::Cluster { client, config, .. } => {
                Connection::Cluster(client.get_pending_async_connection_with_config(config.clone()))
            }
        })
    }
}

/// A connection of the store; cheap to clone (every clone shares the same sockets).
#[derive(Clone)]
pub(crate) enum Connection {
    Server(ConnectionManager),
    Cluster(ClusterConnection),
    /// One node of a cluster, by address: what is per node (`SCAN`, `INFO`).
    Node {
        cluster: ClusterConnection,
        host: String,
        port: u16,
    },
}

impl Connection {
    /// The connections to every node that holds keys: the server itself, or every master of the
    /// cluster (read from `CLUSTER NODES` now).
    pub(crate) async fn nodes(&self) -> Result<Vec<Connection>, RedisError> {
        let cluster = match self {
            Self::Server(_) | Self::Node { .. } => return Ok(vec![self.clone()]),
            Self::Cluster(cluster) => cluster,
        };
        let text = redis::cmd("CLUSTER")
            .arg("NODES")
            .query_async::<String>(&mut cluster.clone())
            .await?;
        Ok(masters(&text)
            .into_iter()
            .map(|(host, port)| Self::Node {
                cluster: cluster.clone(),
                host,
                port,
            })
            .collect())
    }
}

/// The address of every master that serves slots and is not failing, from `CLUSTER NODES`.
pub(crate) fn masters(nodes: &str) -> Vec<(String, u16)> {
    let mut found = Vec::new();
    for line in nodes.lines() {
        let fields: Vec<&str> = line.split(' ').collect();
        let (Some(address), Some(flags)) = (fields.get(1), fields.get(2)) else {
            continue;
        };
        let flags: Vec<&str> = flags.split(',').collect();
        let serves_slots = fields.len() > 8;
        if !flags.contains(&"master") || flags.iter().any(|f| f.starts_with("fail")) {
            continue;
        }
        if !serves_slots {
            continue;
        }
        // `host:port@bus-port[,hostname]`
        let address = address.split(['@', ',']).next().unwrap_or_default();
        if let Some((host, port)) = address.rsplit_once(':') {
            if let Ok(port) = port.parse() {
                found.push((host.to_owned(), port));
            }
        }
    }
    found.sort();
    found
}

impl ConnectionLike for Connection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Self::Server(connection) => connection.req_packed_command(cmd),
            Self::Cluster(connection) => connection.req_packed_command(cmd),
            Self::Node {
                cluster,
                host,
                port,
            } => {
                let routing = RoutingInfo::SingleNode(SingleNodeRoutingInfo::ByAddress {
                    host: host.clone(),
                    port: *port,
                });
                Box::pin(cluster.route_command(cmd.clone(), routing))
            }
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Self::Server(connection) => connection.req_packed_commands(pipeline, offset, count),
            Self::Cluster(connection) => connection.req_packed_commands(pipeline, offset, count),
            // The cluster client routes a pipeline by its keys, not to a node: refused rather
            // than sent somewhere else (nothing sends one to a node).
            Self::Node { host, port, .. } => {
                let refused = RedisError::from((
                    redis::ErrorKind::Client,
                    "a pipeline is not sent to one node of a cluster",
                    format!("{host}:{port}"),
                ));
                Box::pin(std::future::ready(Err(refused)))
            }
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Server(connection) => connection.get_db(),
            Self::Cluster(connection)
            | Self::Node {
                cluster: connection,
                ..
            } => connection.get_db(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::masters;

    #[test]
    fn masters_are_read_from_cluster_nodes() {
        let nodes = "\
a1 127.0.0.1:7000@17000 myself,master - 0 0 1 connected 0-5460
b2 127.0.0.1:7001@17001 master - 0 0 2 connected 5461-10922
c3 127.0.0.1:7002@17002,node-c master,fail - 0 0 3 connected 10923-16383
d4 127.0.0.1:7003@17003 slave a1 0 0 1 connected
e5 127.0.0.1:7004@17004 master - 0 0 5 connected
";
        assert_eq!(
            masters(nodes),
            vec![
                ("127.0.0.1".to_owned(), 7000),
                ("127.0.0.1".to_owned(), 7001)
            ]
        );
    }
}
