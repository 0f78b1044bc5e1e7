//! A real Redis Cluster on loopback: six `redis-server --cluster-enabled yes` processes joined
//! by `redis-cli --cluster create … --cluster-replicas 1`, three masters with one replica each.
//!
//! The nodes are [`RedisServer`]s (their own temp dir, config file and log, killed on drop) with
//! an explicit cluster bus port, so the bus never lands on `port + 10000` (which may be taken,
//! or beyond 65535). [`RedisCluster::start`] returns only once every node agrees the cluster is
//! `cluster_state:ok` with all 16384 slots assigned and every replica is linked to its master;
//! [`RedisCluster::kill`] and [`RedisCluster::wait_for_failover`] take a master away and wait
//! until its replica serves its slots. Panics include every node's log.
//!
//! [`RedisCluster::start_with`] starts nodes that demand a password (`--requirepass`, and
//! `--masterauth` for their replicas) and/or speak TLS only, on the client port, the cluster
//! bus and replication alike; the fixture's own checks and connections then authenticate and
//! trust the test CA, and [`RedisCluster::urls`] carry the password and the `rediss://` scheme.

use std::collections::HashSet;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;

use crate::tls::TlsFiles;
use crate::{free_port, RedisServer};

/// Nodes: three masters and one replica each.
const NODES: usize = 6;
const SLOTS: u32 = 16384;
/// How long a silent node may stay silent before it is failed over: short, so that a test's
/// failover takes a couple of seconds.
const NODE_TIMEOUT_MS: u32 = 1000;
/// Bound on `redis-cli --cluster create` and the cluster agreeing after it, together.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// The `redis-cli` binary: `$REDIS_CLI_BIN`, else `redis-cli` from `PATH`.
fn cli_binary() -> String {
    std::env::var("REDIS_CLI_BIN").unwrap_or_else(|_| "redis-cli".to_owned())
}

/// How the nodes of a [`RedisCluster`] admit clients; the default is neither password nor TLS.
#[derive(Default)]
pub struct ClusterOptions<'a> {
    /// `--requirepass` on every node, and `--masterauth` so that replicas authenticate too.
    pub password: Option<String>,
    /// TLS only (`--port 0 --tls-port …`), on the cluster bus and replication too, with the
    /// server certificate of these files.
    pub tls: Option<&'a TlsFiles>,
    /// With `tls`: `--tls-auth-clients yes`, every client must present a certificate signed by
    /// the CA of `tls` (the nodes present their server certificate to each other).
    pub mutual_tls: bool,
}

/// Six `redis-server` processes forming one cluster.
pub struct RedisCluster {
    nodes: Vec<RedisServer>,
    access: Access,
}

/// What the fixture's own connections need to get in: the nodes' password, and the test CA and
/// client certificate (PEM, read at start: the files may go before the cluster does).
struct Access {
    password: Option<String>,
    tls: Option<redis::TlsCertificates>,
}

impl Access {
    fn new(options: &ClusterOptions<'_>) -> Result<Self, String> {
        let read = |path: std::path::PathBuf| {
            std::fs::read(&path).map_err(|e| format!("read {}: {e}", path.display()))
        };
        let tls = match options.tls {
            None => None,
            Some(files) => Some(redis::TlsCertificates {
                client_tls: Some(redis::ClientTlsConfig {
                    client_cert: read(files.client_cert())?,
                    client_key: read(files.client_key())?,
                }),
                root_cert: Some(read(files.ca())?),
            }),
        };
        Ok(Access {
            password: options.password.clone(),
            tls,
        })
    }

    /// `url` (a node's own, `redis://` or `rediss://`) with the password, if any.
    fn url(&self, url: String) -> String {
        match (&self.password, url.split_once("://")) {
            (Some(password), Some((scheme, address))) => {
                format!("{scheme}://:{password}@{address}")
            }
            _ => url,
        }
    }

    /// A client of `url`: trusting the test CA and presenting the client certificate over TLS.
    fn client(&self, url: &str) -> redis::RedisResult<redis::Client> {
        match &self.tls {
            None => redis::Client::open(url),
            Some(certificates) => redis::Client::build_with_tls(url, certificates.clone()),
        }
    }

    fn cluster_client(&self, urls: Vec<String>) -> redis::RedisResult<ClusterClient> {
        let builder = redis::cluster::ClusterClientBuilder::new(urls);
        match &self.tls {
            None => builder.build(),
            Some(certificates) => builder.certs(certificates.clone()).build(),
        }
    }
}

/// One line of `CLUSTER NODES`.
struct NodeLine {
    port: u16,
    master: bool,
    failed: bool,
    /// Inclusive slot ranges the node serves.
    slots: Vec<(u32, u32)>,
}

impl NodeLine {
    /// `<id> <ip:port@cport[,hostname]> <flags> <master> <ping> <pong> <epoch> <link> <slot>…`
    fn parse(line: &str) -> Option<NodeLine> {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let address = fields.get(1)?;
        let port = address
            .split('@')
            .next()?
            .rsplit(':')
            .next()?
            .parse()
            .ok()?;
        let flags: Vec<&str> = fields.get(2)?.split(',').collect();
        let slots = fields
            .iter()
            .skip(8)
            // `[slot->-id]` / `[slot-<-id]`: a slot being migrated, not served.
            .filter(|range| !range.starts_with('['))
            .filter_map(|range| match range.split_once('-') {
                Some((from, to)) => Some((from.parse().ok()?, to.parse().ok()?)),
                None => range.parse().ok().map(|slot| (slot, slot)),
            })
            .collect();
        Some(NodeLine {
            port,
            master: flags.contains(&"master"),
            failed: flags
                .iter()
                .any(|f| *f == "fail" || *f == "fail?" || *f == "noaddr"),
            slots,
        })
    }

    fn slot_count(&self) -> u32 {
        self.slots.iter().map(|(from, to)| to - from + 1).sum()
    }
}

impl RedisCluster {
    /// Starts six nodes, creates the cluster and waits until it is fully up. A port race
    /// (another test took a port between the probe and the bind) starts the whole cluster again.
    pub fn start() -> Self {
        Self::start_with(ClusterOptions::default())
    }

    /// [`start`](Self::start), with nodes that demand a password and/or speak TLS only.
    pub fn start_with(options: ClusterOptions<'_>) -> Self {
        let started = Instant::now();
        let mut last_error = String::new();
        for _ in 0..3 {
            match Self::try_start(&options) {
                Ok(cluster) => {
                    // Seen in test output with `--nocapture`: what a cluster costs a test.
                    println!(
                        "redis cluster on ports {:?} up in {:?}",
                        cluster.ports(),
                        started.elapsed()
                    );
                    return cluster;
                }
                Err(error) => last_error = error,
            }
        }
        panic!("the redis cluster did not start; last attempt:\n{last_error}");
    }

    fn try_start(options: &ClusterOptions<'_>) -> Result<Self, String> {
        // Twelve distinct ports: six clients, six buses.
        let mut ports = HashSet::new();
        while ports.len() < 2 * NODES {
            ports.insert(free_port());
        }
        let ports: Vec<u16> = ports.into_iter().collect();
        let mut cluster = RedisCluster {
            nodes: Vec::new(),
            access: Access::new(options)?,
        };
        let mut secured = Vec::new();
        if let Some(password) = &options.password {
            let password = password.as_str();
            secured.extend(["--requirepass", password, "--masterauth", password]);
        }
        let tls = options.tls.map(|files| {
            secured.extend(["--tls-cluster", "yes", "--tls-replication", "yes"]);
            RedisServer::tls_args(files, options.mutual_tls)
        });
        for pair in ports.chunks(2) {
            let (port, bus) = (pair[0], pair[1]);
            let mut args = [
                "--cluster-enabled",
                "yes",
                // Relative to the node's own `--dir`.
                "--cluster-config-file",
                "nodes.conf",
                "--cluster-node-timeout",
                &NODE_TIMEOUT_MS.to_string(),
                "--cluster-port",
                &bus.to_string(),
                // A replica's first sync starts at once, not after the default 5 s wait for
                // more replicas to join it.
                "--repl-diskless-sync-delay",
                "0",
            ]
            .map(str::to_owned)
            .to_vec();
            args.extend(secured.iter().map(|a| (*a).to_owned()));
            let node = RedisServer::start_on(port, args, tls.clone())
                .map_err(|log| format!("node on port {port} (bus {bus}) did not start:\n{log}"))?;
            cluster.nodes.push(node);
        }

        let deadline = Instant::now() + START_TIMEOUT;
        // Its report is a few KB: it fits the pipes while we wait for the exit.
        let mut create = Command::new(cli_binary());
        if let Some(password) = &options.password {
            create.args(["-a", password, "--no-auth-warning"]);
        }
        if let Some(files) = options.tls {
            create
                .args(["--tls", "--cacert"])
                .arg(files.ca())
                .arg("--cert")
                .arg(files.client_cert())
                .arg("--key")
                .arg(files.client_key());
        }
        let mut create = create
            .arg("--cluster")
            .arg("create")
            .args(
                cluster
                    .nodes
                    .iter()
                    .map(|n| format!("127.0.0.1:{}", n.port())),
            )
            .args(["--cluster-replicas", "1", "--cluster-yes"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot run {}: {e} (is redis-cli installed?)", cli_binary()))?;
        while create.try_wait().map_err(|e| e.to_string())?.is_none() {
            if Instant::now() > deadline {
                let _ = create.kill();
                let output = create.wait_with_output().map_err(|e| e.to_string())?;
                return Err(format!(
                    "redis-cli --cluster create did not finish within {START_TIMEOUT:?}:\n{}\n{}",
                    String::from_utf8_lossy(&output.stdout),
                    cluster.log()
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let output = create.wait_with_output().map_err(|e| e.to_string())?;
        if !output.status.success() {
            return Err(format!(
                "redis-cli --cluster create failed:\n{}{}\n{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr),
                cluster.log()
            ));
        }

        loop {
            match cluster.not_ready() {
                None => return Ok(cluster),
                Some(reason) if Instant::now() > deadline => {
                    return Err(format!(
                        "the cluster was not ready within {START_TIMEOUT:?}: {reason}\n{}",
                        cluster.log()
                    ))
                }
                Some(_) => std::thread::sleep(Duration::from_millis(50)),
            }
        }
    }

    /// Why the cluster is not fully up yet, or `None` when it is: every node says
    /// `cluster_state:ok`, knows all six nodes and sees all slots assigned to three masters, and
    /// every replica's link to its master is up.
    fn not_ready(&self) -> Option<String> {
        for node in &self.nodes {
            let port = node.port();
            let info = match self.query(port, &redis::cmd("CLUSTER").arg("INFO").to_owned()) {
                Ok(info) => info,
                Err(e) => return Some(format!("CLUSTER INFO on {port}: {e}")),
            };
            for expected in [
                "cluster_state:ok".to_owned(),
                format!("cluster_slots_assigned:{SLOTS}"),
                format!("cluster_known_nodes:{NODES}"),
                format!("cluster_size:{}", NODES / 2),
            ] {
                if !info.lines().any(|line| line.trim() == expected) {
                    return Some(format!("node {port} lacks `{expected}`:\n{info}"));
                }
            }
            let replication =
                match self.query(port, &redis::cmd("INFO").arg("replication").to_owned()) {
                    Ok(info) => info,
                    Err(e) => return Some(format!("INFO replication on {port}: {e}")),
                };
            if replication.contains("role:slave")
                && !replication
                    .lines()
                    .any(|line| line.trim() == "master_link_status:up")
            {
                return Some(format!("replica {port} is not linked:\n{replication}"));
            }
        }
        None
    }

    /// The ports of every node, killed ones included.
    fn ports(&self) -> Vec<u16> {
        self.nodes.iter().map(RedisServer::port).collect()
    }

    /// `redis://127.0.0.1:<port>` of every node: `rediss://` on a TLS cluster, with
    /// `:<password>@` before the address on a cluster with a password.
    pub fn urls(&self) -> Vec<String> {
        self.nodes
            .iter()
            .map(|node| self.access.url(node.url()))
            .collect()
    }

    /// `CLUSTER NODES` as seen by the first live node that answers.
    fn topology(&self) -> Vec<NodeLine> {
        let mut errors = Vec::new();
        for node in self.nodes.iter().filter(|n| n.is_running()) {
            match self.query(node.port(), &redis::cmd("CLUSTER").arg("NODES").to_owned()) {
                Ok(text) => return text.lines().filter_map(NodeLine::parse).collect(),
                Err(e) => errors.push(format!("{}: {e}", node.port())),
            }
        }
        panic!(
            "no live node answers CLUSTER NODES: {errors:?}\n{}",
            self.log()
        );
    }

    /// The ports of the current masters (not failed), sorted, from `CLUSTER NODES` of a live
    /// node. Right after a [`kill`](Self::kill) the killed master is listed until the others
    /// mark it failed: [`wait_for_failover`](Self::wait_for_failover) first.
    pub fn masters(&self) -> Vec<u16> {
        let mut ports: Vec<u16> = self
            .topology()
            .iter()
            // A node that another node's view still shows as a master without slots (a replica
            // whose role has not reached that view yet) holds no keys of its own.
            .filter(|n| n.master && !n.failed && !n.slots.is_empty())
            .map(|n| n.port)
            .collect();
        ports.sort_unstable();
        ports
    }

    /// The ports of the current replicas (not failed), sorted.
    pub fn replicas(&self) -> Vec<u16> {
        let mut ports: Vec<u16> = self
            .topology()
            .iter()
            .filter(|n| !n.master && !n.failed)
            .map(|n| n.port)
            .collect();
        ports.sort_unstable();
        ports
    }

    /// A cluster connection for the test's own checks: follows `MOVED` and `ASK` like the cache's.
    pub async fn connection(&self) -> ClusterConnection {
        self.access
            .cluster_client(self.urls())
            .unwrap_or_else(|e| panic!("a cluster client for {:?}: {e}", self.urls()))
            .get_async_connection()
            .await
            .unwrap_or_else(|e| panic!("connect to the test cluster: {e}\n{}", self.log()))
    }

    /// `DBSIZE` of every current master ([`masters`](Self::masters)), by port.
    pub async fn dbsize_per_master(&self) -> Vec<(u16, u64)> {
        let mut sizes = Vec::new();
        for port in self.masters() {
            let mut connection = self.node_connection(port).await;
            let size: u64 = redis::cmd("DBSIZE")
                .query_async(&mut connection)
                .await
                .unwrap_or_else(|e| panic!("DBSIZE on {port}: {e}\n{}", self.log()));
            sizes.push((port, size));
        }
        sizes
    }

    /// Every key on every current master ([`masters`](Self::masters)), sorted. `KEYS` is fine
    /// here: test nodes with a handful of keys, never library code.
    pub async fn keys(&self) -> Vec<String> {
        let mut keys = Vec::new();
        for port in self.masters() {
            let mut connection = self.node_connection(port).await;
            let on_node: Vec<String> = redis::cmd("KEYS")
                .arg("*")
                .query_async(&mut connection)
                .await
                .unwrap_or_else(|e| panic!("KEYS on {port}: {e}\n{}", self.log()));
            keys.extend(on_node);
        }
        keys.sort();
        keys.dedup();
        keys
    }

    /// The port of the master that serves `key`'s slot now.
    pub fn master_of_key(&self, key: &str) -> u16 {
        let slot = self
            .nodes
            .iter()
            .filter(|n| n.is_running())
            .find_map(|n| {
                self.query_value::<u32>(n.port(), redis::cmd("CLUSTER").arg("KEYSLOT").arg(key))
                    .ok()
            })
            .unwrap_or_else(|| panic!("no live node answers CLUSTER KEYSLOT\n{}", self.log()));
        self.topology()
            .iter()
            .filter(|n| n.master && !n.failed)
            .find(|n| {
                n.slots
                    .iter()
                    .any(|(from, to)| (*from..=*to).contains(&slot))
            })
            .map(|n| n.port)
            .unwrap_or_else(|| panic!("no master serves slot {slot} of `{key}`\n{}", self.log()))
    }

    /// Kills the node on `port` with SIGKILL and waits for the process to exit.
    pub fn kill(&mut self, port: u16) {
        let node = self
            .nodes
            .iter_mut()
            .find(|n| n.port() == port)
            .unwrap_or_else(|| panic!("no node on port {port}"));
        node.kill();
    }

    /// Waits (at most `timeout`) until the killed master `killed` is failed over: every live
    /// node says `cluster_state:ok` and sees all 16384 slots served by live masters, none of
    /// them `killed`. Panics with every node's log if that does not happen in time.
    pub async fn wait_for_failover(&self, killed: u16, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            let reason = match self.failover_pending(killed).await {
                None => return,
                Some(reason) => reason,
            };
            assert!(
                Instant::now() < deadline,
                "node {killed} was not failed over within {timeout:?}: {reason}\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Why the failover of `killed` is not complete yet, or `None`.
    async fn failover_pending(&self, killed: u16) -> Option<String> {
        for node in self.nodes.iter().filter(|n| n.is_running()) {
            let port = node.port();
            let client = match self.node_client(node) {
                Ok(client) => client,
                Err(e) => return Some(format!("a client of {port}: {e}")),
            };
            let mut connection = match client.get_multiplexed_async_connection().await {
                Ok(connection) => connection,
                Err(e) => return Some(format!("connect to {port}: {e}")),
            };
            let info: String = match redis::cmd("CLUSTER")
                .arg("INFO")
                .query_async(&mut connection)
                .await
            {
                Ok(info) => info,
                Err(e) => return Some(format!("CLUSTER INFO on {port}: {e}")),
            };
            if !info.lines().any(|line| line.trim() == "cluster_state:ok") {
                return Some(format!("node {port} is not ok:\n{info}"));
            }
            let nodes: String = match redis::cmd("CLUSTER")
                .arg("NODES")
                .query_async(&mut connection)
                .await
            {
                Ok(nodes) => nodes,
                Err(e) => return Some(format!("CLUSTER NODES on {port}: {e}")),
            };
            let lines: Vec<NodeLine> = nodes.lines().filter_map(NodeLine::parse).collect();
            let served: u32 = lines
                .iter()
                .filter(|n| n.master && !n.failed && n.port != killed)
                .map(NodeLine::slot_count)
                .sum();
            if served != SLOTS {
                return Some(format!(
                    "node {port} sees {served} slots on live masters:\n{nodes}"
                ));
            }
        }
        None
    }

    /// Every node's log, each under a header with its port.
    pub fn log(&self) -> String {
        self.nodes
            .iter()
            .map(|n| format!("--- node {} ---\n{}", n.port(), n.log()))
            .collect::<Vec<_>>()
            .join("\n")
    }

    async fn node_connection(&self, port: u16) -> redis::aio::MultiplexedConnection {
        let node = self
            .nodes
            .iter()
            .find(|n| n.port() == port)
            .unwrap_or_else(|| panic!("no node on port {port}"));
        self.node_client(node)
            .unwrap_or_else(|e| panic!("a client of node {port}: {e}"))
            .get_multiplexed_async_connection()
            .await
            .unwrap_or_else(|e| panic!("connect to node {port}: {e}\n{}", self.log()))
    }

    /// A client of one node, with the cluster's password and TLS.
    fn node_client(&self, node: &RedisServer) -> redis::RedisResult<redis::Client> {
        self.access.client(&self.access.url(node.url()))
    }

    /// A text reply (`CLUSTER INFO`, `CLUSTER NODES`, `INFO`) of the node on `port`, over a
    /// short blocking connection: used where no runtime is at hand (start-up, the sync
    /// accessors).
    fn query(&self, port: u16, cmd: &redis::Cmd) -> Result<String, String> {
        self.query_value(port, cmd)
    }

    fn query_value<T: redis::FromRedisValue>(
        &self,
        port: u16,
        cmd: &redis::Cmd,
    ) -> Result<T, String> {
        let node = self
            .nodes
            .iter()
            .find(|n| n.port() == port)
            .ok_or_else(|| format!("no node on port {port}"))?;
        let mut connection = self
            .node_client(node)
            .map_err(|e| e.to_string())?
            .get_connection_with_timeout(Duration::from_millis(500))
            .map_err(|e| e.to_string())?;
        connection
            .set_read_timeout(Some(Duration::from_secs(2)))
            .map_err(|e| e.to_string())?;
        cmd.query(&mut connection).map_err(|e| e.to_string())
    }
}
