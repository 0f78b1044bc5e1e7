//! Another language's client and this crate share entries on a `redis-server` the test starts:
//! Python's `redis` reads a `#[cached]` entry (JSON in the envelope `{"g": …, "v": …}`), and a
//! session Python writes as plain JSON is read by a typed keyspace (`keyspace!`).
//!
//! Needs `python3` with the `redis` module (`.ci/run` installs it). Without them each test says
//! so on stderr and returns, which counts as passed.

use std::process::Command;

use cache_runtime::{cached, keyspace, Policy};
use cache_tests::inspect::redis_cache;
use cache_tests::RedisServer;
use serde::{Deserialize, Serialize};

/// Whether `python3` with the `redis` module is here; says why not on stderr.
fn python_with_redis() -> bool {
    match Command::new("python3")
        .args(["-c", "import redis"])
        .output()
    {
        Ok(output) if output.status.success() => true,
        Ok(output) => {
            eprintln!(
                "skipped: python3 has no `redis` module (python3 -m pip install redis): {}",
                String::from_utf8_lossy(&output.stderr).trim()
            );
            false
        }
        Err(error) => {
            eprintln!("skipped: python3 could not be run: {error}");
            false
        }
    }
}

/// Runs `script` with `args` (as `sys.argv[1:]`), returning its stdout; panics with its stderr
/// and the server's log if it fails.
fn python(server: &RedisServer, script: &str, args: &[&str]) -> String {
    let port = server.port().to_string();
    let output = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(&port)
        .args(args)
        .output()
        .expect("run python3");
    assert!(
        output.status.success(),
        "python3 failed: {}\n{}",
        String::from_utf8_lossy(&output.stderr),
        server.log()
    );
    String::from_utf8(output.stdout).expect("python3 prints UTF-8")
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Quote {
    ticker: String,
    price: f64,
    venues: Vec<String>,
    note: Option<String>,
}

#[cached(key = "quote:{ticker}", ttl = "1m")]
async fn quote(ticker: &str) -> Result<Quote, String> {
    Ok(Quote {
        ticker: ticker.to_owned(),
        price: 2_871.5,
        venues: vec!["TSE".to_owned(), "ジャスダック".to_owned()],
        note: None,
    })
}

const READ_ENTRY: &str = r#"
import json, sys, redis
r = redis.Redis(host="127.0.0.1", port=int(sys.argv[1]))
entry = json.loads(r.get(sys.argv[2]))
assert isinstance(entry["g"], str), entry
print(json.dumps(entry["v"]))
"#;

#[tokio::test]
async fn python_reads_an_entry_the_framework_wrote() {
    if !python_with_redis() {
        return;
    }
    let server = RedisServer::start();
    let cache = redis_cache(&server).await;
    let (value, key) = cache
        .scope(async { (quote("7203").await, quote_cache("7203").key()) })
        .await;
    let value = value.expect("quote computes");
    let key = key.expect("a cache is in use");
    let read = python(&server, READ_ENTRY, &[&key]);
    let read: serde_json::Value = serde_json::from_str(&read).expect("python prints JSON");
    assert_eq!(read, serde_json::to_value(&value).unwrap());
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Session {
    user_id: String,
    email: String,
    country_code: String,
}

keyspace!(SESSIONS: Session = "session:{user_id}", ttl = Policy::UserSession);

const WRITE_SESSION: &str = r#"
import json, sys, redis
r = redis.Redis(host="127.0.0.1", port=int(sys.argv[1]))
session = {"userId": "u9", "email": "u9@example.com", "countryCode": "JP"}
r.set(sys.argv[2], json.dumps(session), px=60000)
"#;

#[tokio::test]
async fn a_keyspace_reads_a_session_python_wrote() {
    if !python_with_redis() {
        return;
    }
    let server = RedisServer::start();
    let cache = redis_cache(&server).await;
    cache
        .scope(async {
            let key = SESSIONS.key("u9").expect("a cache is in use");
            assert_eq!(key, "v1:_:session:u9");
            python(&server, WRITE_SESSION, &[&key]);
            let session = SESSIONS.get("u9").await;
            let expected = Session {
                user_id: "u9".to_owned(),
                email: "u9@example.com".to_owned(),
                country_code: "JP".to_owned(),
            };
            assert_eq!(session, Some(expected), "{}", server.log());
            let ttl = SESSIONS.ttl("u9").await.expect("Python's PX");
            assert!(ttl.as_millis() <= 60_000, "{ttl:?}");
        })
        .await;
}
