//! Redis older than 7.0 (issue 9, item 10): index maintenance needs `PEXPIRE … NX/GT`, so the
//! store reads the server's version (`INFO server`) on each new connection and refuses to cache
//! on a server older than 7.0: calls run the function, nothing is written, `stats().store` says
//! why, and caching starts once the server is upgraded.
//!
//! Only Redis 7 is installed where these tests run, so the old server is a stand-in: a small
//! RESP server on loopback that answers as Redis 6.2 does (`INFO server` with
//! `redis_version:6.2.14`, `PEXPIRE` with `NX`/`GT` refused as 6.2 refuses it), and that can be
//! "upgraded" to 7.0.15 in place. The version parser and the decision are unit-tested in
//! `cache-runtime` (`store::redis::server`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cache_runtime::{cached, CacheBuilder};
use cache_tests::inspect::policy;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// What the stand-in server has seen and holds.
#[derive(Default)]
struct Server {
    version: Mutex<String>,
    commands: Mutex<Vec<String>>,
    data: Mutex<HashMap<Vec<u8>, Vec<u8>>>,
}

impl Server {
    fn commands(&self) -> Vec<String> {
        self.commands.lock().unwrap().clone()
    }

    fn reply(&self, args: &[Vec<u8>]) -> Vec<u8> {
        let name = String::from_utf8_lossy(&args[0]).to_ascii_uppercase();
        self.commands.lock().unwrap().push(name.clone());
        let version = self.version.lock().unwrap().clone();
        match name.as_str() {
            "PING" => b"+PONG\r\n".to_vec(),
            "INFO" => bulk(format!("# Server\r\nredis_version:{version}\r\nredis_mode:standalone\r\n").as_bytes()),
            "GET" => match self.data.lock().unwrap().get(&args[1]) {
                Some(value) => bulk(value),
                None => b"$-1\r\n".to_vec(),
            },
            "SET" => {
                self.data
                    .lock()
                    .unwrap()
                    .insert(args[1].clone(), args[2].clone());
                b"+OK\r\n".to_vec()
            }
            "SADD" => b":1\r\n".to_vec(),
            // Redis 6.2 knows no options of PEXPIRE.
            "PEXPIRE" if args.len() > 3 && version.starts_with('6') => {
                b"-ERR wrong number of arguments for 'pexpire' command\r\n".to_vec()
            }
            "PEXPIRE" => b":1\r\n".to_vec(),
            "CLIENT" => b"-ERR Unknown subcommand or wrong number of arguments for 'SETINFO'. Try CLIENT HELP.\r\n".to_vec(),
            _ => format!("-ERR unknown command '{name}'\r\n").into_bytes(),
        }
    }
}

fn bulk(bytes: &[u8]) -> Vec<u8> {
    let mut out = format!("${}\r\n", bytes.len()).into_bytes();
    out.extend_from_slice(bytes);
    out.extend_from_slice(b"\r\n");
    out
}

/// Serves RESP arrays of bulk strings on `stream` until it closes.
async fn serve(server: Arc<Server>, stream: TcpStream) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut read = BufReader::new(read);
    let mut line = String::new();
    loop {
        line.clear();
        if read.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let count: usize = line.trim_start_matches('*').trim().parse().unwrap_or(0);
        let mut args = Vec::with_capacity(count);
        for _ in 0..count {
            line.clear();
            read.read_line(&mut line).await?;
            let len: usize = line.trim_start_matches('$').trim().parse().unwrap_or(0);
            let mut arg = vec![0; len + 2];
            read.read_exact(&mut arg).await?;
            arg.truncate(len);
            args.push(arg);
        }
        if !args.is_empty() {
            write.write_all(&server.reply(&args)).await?;
        }
    }
}

async fn start(version: &str) -> (Arc<Server>, String) {
    let server = Arc::new(Server::default());
    *server.version.lock().unwrap() = version.to_owned();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("redis://{}", listener.local_addr().unwrap());
    let accepting = Arc::clone(&server);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(serve(Arc::clone(&accepting), stream));
        }
    });
    (server, url)
}

static RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached(key = "quote:{id}", ttl = "10m", tags = ["id:{id}"])]
async fn quote(id: u32) -> Result<u32, String> {
    RUNS.fetch_add(1, Ordering::SeqCst);
    Ok(id * 3)
}

#[tokio::test]
async fn a_redis_older_than_7_is_refused_and_an_upgrade_is_noticed() {
    let (server, url) = start("6.2.14").await;
    let cache = CacheBuilder::new()
        .redis_url(url)
        .breaker(3, Duration::from_millis(200))
        .build()
        .await
        .unwrap();
    cache
        .scope(async {
            for _ in 0..5 {
                assert_eq!(quote(1).await, Ok(3));
            }
        })
        .await;
    assert_eq!(RUNS.load(Ordering::SeqCst), 5, "nothing is cached");
    let stats = cache.stats();
    assert_eq!(stats.store.redis_version.as_deref(), Some("6.2.14"));
    let refused = stats.store.refused.clone().unwrap_or_default();
    assert!(
        refused.contains("6.2.14") && refused.contains("7.0"),
        "{stats:?}"
    );
    let commands = server.commands();
    assert_eq!(
        commands.iter().filter(|c| *c == "INFO").count(),
        1,
        "the version is read once: {commands:?}"
    );
    for write in ["SET", "SADD", "PEXPIRE", "GET"] {
        assert!(
            !commands.iter().any(|c| c == write),
            "a refused server is not sent {write}: {commands:?}"
        );
    }

    // Upgraded in place: read again within a cool-down, then caching works.
    *server.version.lock().unwrap() = "7.0.15".to_owned();
    let deadline = Instant::now() + Duration::from_secs(10);
    while policy(&cache, "redis_version::quote").hits == 0 {
        assert_eq!(cache.scope(quote(1)).await, Ok(3));
        assert!(
            Instant::now() < deadline,
            "no hit within 10 s of the upgrade: {:?}\n{:?}",
            cache.stats(),
            server.commands()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let stats = cache.stats();
    assert_eq!(stats.store.refused, None, "{stats:?}");
    assert_eq!(stats.store.redis_version.as_deref(), Some("7.0.15"));
}
