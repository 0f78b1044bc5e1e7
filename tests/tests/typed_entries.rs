//! Typed entries (`keyspace!`) against a real Redis and over the in-process store: the
//! plain-JSON layout another client can write, TTLs and `touch`, `update` without lost writes
//! under concurrency, tenant isolation, and failures that answer `None`/`false` and are counted.
//!
//! The Redis tests run on a single server (`single::…`) and on a three-master cluster
//! (`cluster::…`; the one with concurrent updates under `threaded::`, on two worker threads),
//! see [`cache_tests::backend`]; the dead-store test kills its server and runs on a single
//! server only.

use std::sync::Arc;
use std::time::Duration;

use cache_runtime::{keyspace, tenant, Cache, CacheBuilder, Policy, Update};
use cache_tests::inspect::redis_cache;
use cache_tests::{backend_tests, Backend, RedisServer};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Session {
    user_id: String,
    email: String,
    country_code: String,
}

keyspace!(SESSIONS: Session = "session:{user_id}", ttl = Policy::UserSession);
keyspace!(VISITS: u64 = "visits:{page}", ttl = "1h");
keyspace!(SHORT: String = "short:{id}", ttl = "2s");

fn session(user: &str) -> Session {
    Session {
        user_id: user.to_owned(),
        email: format!("{user}@example.com"),
        country_code: "ES".to_owned(),
    }
}

/// Two tasks update one counter 100 times each: every increment lands.
async fn concurrent_updates(cache: &Cache) {
    let tasks: Vec<_> = (0..2)
        .map(|_| {
            let cache = cache.clone();
            tokio::spawn(async move {
                cache
                    .scope(async {
                        for _ in 0..100 {
                            let update = VISITS.update("home", |n| Some(n.unwrap_or(0) + 1)).await;
                            assert!(matches!(update, Update::Stored(_)), "{update:?}");
                        }
                    })
                    .await
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("an updating task");
    }
    assert_eq!(cache.scope(VISITS.get("home")).await, Some(200));
    assert_eq!(cache.stats().direct.update_conflicts, 0);
}

async fn basic_operations(cache: &Cache) {
    cache
        .scope(async {
            assert_eq!(SESSIONS.get("u1").await, None);
            assert!(!SESSIONS.exists("u1").await);
            assert!(SESSIONS.set("u1", &session("u1")).await);
            assert_eq!(SESSIONS.get("u1").await, Some(session("u1")));
            assert!(SESSIONS.exists("u1").await);
            let ttl = SESSIONS.ttl("u1").await.expect("a TTL");
            assert!(ttl <= Duration::from_secs(30 * 60) && ttl > Duration::from_secs(29 * 60));
            assert!(SESSIONS.delete("u1").await);
            assert!(!SESSIONS.delete("u1").await);
            assert_eq!(SESSIONS.get("u1").await, None);
            assert_eq!(
                SESSIONS.update("u2", |_| None).await,
                Update::Unchanged,
                "a declined update writes nothing"
            );
            assert!(!SESSIONS.exists("u2").await);
        })
        .await;
}

async fn touch_extends(cache: &Cache) {
    cache
        .scope(async {
            assert!(SHORT.set("a", &"x".to_owned()).await);
            assert!(SHORT.ttl("a").await.expect("a TTL") <= Duration::from_secs(2));
            // A shorter lifetime, then touch: the keyspace's whole TTL again.
            assert!(!SHORT.touch("missing").await);
            assert!(SHORT.touch("a").await);
            assert!(SHORT.ttl("a").await.expect("a TTL") > Duration::from_millis(1500));
        })
        .await;
}

async fn tenants_are_isolated(cache: &Cache) {
    cache
        .scope(async {
            tenant::scope("acme", SESSIONS.set("u1", &session("acme-user"))).await;
            tenant::scope("globex", SESSIONS.set("u1", &session("globex-user"))).await;
            assert_eq!(
                tenant::scope("acme", SESSIONS.get("u1")).await,
                Some(session("acme-user"))
            );
            assert_eq!(
                tenant::scope("globex", SESSIONS.get("u1")).await,
                Some(session("globex-user"))
            );
            assert_eq!(SESSIONS.get("u1").await, None, "outside any tenant");
            assert!(tenant::scope("acme", SESSIONS.delete("u1")).await);
            assert!(tenant::scope("globex", SESSIONS.exists("u1")).await);
        })
        .await;
}

/// On two worker threads, for the concurrent updates.
mod threaded {
    use super::*;

    async fn typed_entries_over_redis(backend: Backend) {
        let cache = backend.cache().await;
        basic_operations(&cache).await;
        touch_extends(&cache).await;
        tenants_are_isolated(&cache).await;
        concurrent_updates(&cache).await;
        let direct = cache.stats().direct;
        assert_eq!(
            (direct.read_errors, direct.write_errors),
            (0, 0),
            "{direct:?}\n{}",
            backend.log()
        );
    }

    backend_tests!(multi_thread: typed_entries_over_redis);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typed_entries_in_process() {
    let cache = CacheBuilder::new().build().await.expect("build");
    basic_operations(&cache).await;
    touch_extends(&cache).await;
    tenants_are_isolated(&cache).await;
    concurrent_updates(&cache).await;
}

async fn values_are_plain_json_that_other_clients_write(backend: Backend) {
    let cache = backend.cache().await;
    let mut redis = backend.connection().await;
    // What a Python service writes: `r.set("v1:_:session:py", json.dumps(...), px=...)` (on a
    // cluster, at the name `cluster_key` gives).
    let _: () = redis::cmd("SET")
        .arg(backend.key("v1:_:session:py"))
        .arg(r#"{"userId":"py","email":"py@example.com","countryCode":"BR"}"#)
        .arg("EX")
        .arg(60)
        .query_async(&mut redis)
        .await
        .expect("SET");
    let read = cache.scope(SESSIONS.get("py")).await.expect("the session");
    assert_eq!(read.country_code, "BR");
    // And what this API writes is the plain JSON value, no envelope.
    cache.scope(SESSIONS.set("rs", &session("rs"))).await;
    let raw = redis
        .get(&backend.key("v1:_:session:rs"))
        .await
        .expect("stored");
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&raw).expect("JSON"),
        serde_json::json!({"userId":"rs","email":"rs@example.com","countryCode":"ES"})
    );
    assert_eq!(
        cache.scope(async { SESSIONS.key("a:b") }).await.as_deref(),
        Some(backend.key("v1:_:session:a%3Ab").as_str()),
        "key parts are escaped as in #[cached] keys"
    );
    // A value of another shape reads as absent, counted.
    let _: () = redis::cmd("SET")
        .arg(backend.key("v1:_:session:bad"))
        .arg("[1,2]")
        .query_async(&mut redis)
        .await
        .expect("SET");
    assert_eq!(cache.scope(SESSIONS.get("bad")).await, None);
    assert_eq!(cache.stats().direct.undecodable, 1);
}

#[tokio::test]
async fn a_dead_store_answers_none_and_false_and_counts() {
    let mut server = RedisServer::start();
    let cache = Arc::new(redis_cache(&server).await);
    server.kill();
    cache
        .scope(async {
            assert_eq!(SESSIONS.get("u1").await, None);
            assert!(!SESSIONS.set("u1", &session("u1")).await);
            assert_eq!(SESSIONS.update("u1", |s| s).await, Update::Failed);
        })
        .await;
    let direct = cache.stats().direct;
    assert_eq!(direct.read_errors, 1);
    assert_eq!(direct.write_errors, 2);
}

backend_tests!(values_are_plain_json_that_other_clients_write);
