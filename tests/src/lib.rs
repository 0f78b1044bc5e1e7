//! Test support: real `redis-server` processes on free loopback ports.
//!
//! Every test that needs Redis starts its own [`RedisServer`], so tests run in parallel and
//! never touch a shared instance. The server keeps nothing on disk (`--save "" --appendonly
//! no`), logs into its own temporary directory, and is killed when the value is dropped. Panics
//! raised by the harness include the server's log. [`inspect`] reads what a cache left behind:
//! its counters and the bytes in Redis.

pub mod backend;
pub mod cluster;
pub mod inspect;
pub mod tls;

pub use backend::{Backend, Raw};
pub use cluster::{ClusterOptions, RedisCluster};

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The `redis-server` binary: `$REDIS_SERVER_BIN`, else `redis-server` from `PATH`.
fn server_binary() -> String {
    std::env::var("REDIS_SERVER_BIN").unwrap_or_else(|_| "redis-server".to_owned())
}

/// A `redis-server` child process on `127.0.0.1:<port>`.
pub struct RedisServer {
    port: u16,
    extra_args: Vec<String>,
    dir: tempfile::TempDir,
    child: Option<Child>,
    /// TLS only (`--port 0 --tls-port <port>`): the certificate arguments.
    tls: Option<Vec<String>>,
}

impl RedisServer {
    /// Starts a server on a free port and waits until it answers `PING`.
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// Starts a server with extra arguments, e.g. `["--maxmemory", "1mb"]`.
    pub fn start_with(extra_args: &[&str]) -> Self {
        Self::start_inner(extra_args, None)
    }

    /// Starts a server that speaks TLS only, with the server certificate of `files`; with
    /// `mutual`, it also demands a client certificate signed by their CA.
    pub fn start_tls(files: &tls::TlsFiles, mutual: bool) -> Self {
        Self::start_inner(&[], Some(Self::tls_args(files, mutual)))
    }

    /// The certificate arguments of a TLS-only server (see [`start_tls`](Self::start_tls)), for
    /// [`start_on`](Self::start_on); the cluster fixture starts its TLS nodes with them.
    pub(crate) fn tls_args(files: &tls::TlsFiles, mutual: bool) -> Vec<String> {
        let path = |p: std::path::PathBuf| p.display().to_string();
        vec![
            "--tls-cert-file".to_owned(),
            path(files.server_cert()),
            "--tls-key-file".to_owned(),
            path(files.server_key()),
            "--tls-ca-cert-file".to_owned(),
            path(files.ca()),
            "--tls-auth-clients".to_owned(),
            if mutual { "yes" } else { "no" }.to_owned(),
        ]
    }

    fn start_inner(extra_args: &[&str], tls: Option<Vec<String>>) -> Self {
        let extra_args: Vec<String> = extra_args.iter().map(|a| (*a).to_owned()).collect();
        let mut last_log = String::new();
        // A free port can be taken by another test between our probe and the server's bind:
        // try a few ports.
        for _ in 0..5 {
            match Self::start_on(free_port(), extra_args.clone(), tls.clone()) {
                Ok(server) => return server,
                Err(log) => last_log = log,
            }
        }
        panic!("redis-server did not start; last log:\n{last_log}");
    }

    /// One attempt to start a server on `port`: the server, or its log if it did not come up
    /// (the port was taken, …). The cluster fixture starts its nodes with this, so that a port
    /// race restarts the whole cluster rather than one node.
    pub(crate) fn start_on(
        port: u16,
        extra_args: Vec<String>,
        tls: Option<Vec<String>>,
    ) -> Result<Self, String> {
        let dir = tempfile::Builder::new()
            .prefix("cache-tests-redis-")
            .tempdir()
            .expect("create a temporary directory for redis-server");
        let mut server = RedisServer {
            port,
            extra_args,
            dir,
            child: None,
            tls,
        };
        server.spawn_and_wait().map(|()| server)
    }

    /// Whether the process runs (it was not killed, or was restarted since).
    pub(crate) fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// `redis://127.0.0.1:<port>`, or `rediss://` for a TLS server.
    pub fn url(&self) -> String {
        let scheme = if self.tls.is_some() {
            "rediss"
        } else {
            "redis"
        };
        format!("{scheme}://127.0.0.1:{}", self.port)
    }

    /// The port the server listens on, also after a restart.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// A `redis` client for the test's own checks.
    pub fn client(&self) -> redis::Client {
        redis::Client::open(self.url()).expect("a valid URL")
    }

    /// A fresh async connection for the test's own checks.
    pub async fn connection(&self) -> redis::aio::MultiplexedConnection {
        self.client()
            .get_multiplexed_async_connection()
            .await
            .unwrap_or_else(|e| panic!("connect to test redis: {e}\n{}", self.log()))
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// Kills the server with SIGKILL and waits for it to exit. The port stays reserved for
    /// [`RedisServer::restart`].
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port (empty: nothing was saved).
    pub fn restart(&mut self) {
        self.kill();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match self.spawn_and_wait() {
                Ok(()) => return,
                Err(log) if Instant::now() > deadline => {
                    panic!("redis-server did not restart on port {}:\n{log}", self.port)
                }
                Err(_) => std::thread::sleep(Duration::from_millis(50)),
            }
        }
    }

    /// Starts the server again on the same port with other extra arguments (replacing those
    /// it was started with), e.g. `["--requirepass", "secret"]`.
    pub fn restart_with(&mut self, extra_args: &[&str]) {
        self.extra_args = extra_args.iter().map(|a| (*a).to_owned()).collect();
        self.restart();
    }

    /// Stops the process with SIGSTOP: connections stay open and nothing answers.
    pub fn pause(&self) {
        self.signal("STOP");
    }

    /// Resumes a paused server with SIGCONT.
    pub fn resume(&self) {
        self.signal("CONT");
    }

    fn signal(&self, signal: &str) {
        let child = self.child.as_ref().expect("the server is running");
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(child.id().to_string())
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{signal} failed");
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("redis.log")
    }

    fn spawn_and_wait(&mut self) -> Result<(), String> {
        let mut command = Command::new(server_binary());
        match &self.tls {
            None => command.arg("--port").arg(self.port.to_string()),
            Some(tls) => command
                .args(["--port", "0", "--tls-port"])
                .arg(self.port.to_string())
                .args(tls),
        };
        command
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(self.dir.path())
            .arg("--logfile")
            .arg(self.log_path())
            .args(&self.extra_args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let child = command.spawn().map_err(|e| {
            format!(
                "cannot run {}: {e} (is redis-server installed?)",
                server_binary()
            )
        })?;
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Some(Ok(Some(_))) = self.child.as_mut().map(Child::try_wait) {
                self.child = None;
                return Err(self.log());
            }
            let ready = match self.tls {
                None => ping(self.port),
                // Listening is enough: the server accepts from its backlog once it runs.
                Some(_) => {
                    TcpStream::connect(SocketAddr::from(([127, 0, 0, 1], self.port))).is_ok()
                }
            };
            if ready {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.kill();
        Err(self.log())
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A port that nothing listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("bind an ephemeral port")
}

/// Whether a Redis server on `port` answers `PING` (with `PONG`, or with `NOAUTH` when it
/// was started with `--requirepass`).
pub fn ping(port: u16) -> bool {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
    if stream.write_all(b"PING\r\n").is_err() {
        return false;
    }
    let mut reply = [0u8; 7];
    stream.read_exact(&mut reply).is_ok() && (&reply == b"+PONG\r\n" || &reply == b"-NOAUTH")
}
