//! The cluster fixture itself: six real `redis-server` processes make three masters with one
//! replica each, keys spread over the masters, and a killed master's replica takes over.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use cache_tests::RedisCluster;

#[tokio::test]
async fn the_cluster_has_three_masters_with_a_replica_each_and_spreads_keys_over_them() {
    let started = Instant::now();
    let cluster = RedisCluster::start();
    println!("cluster up in {:?}", started.elapsed());
    let masters = cluster.masters();
    let replicas = cluster.replicas();
    assert_eq!(masters.len(), 3, "masters {masters:?}\n{}", cluster.log());
    assert_eq!(
        replicas.len(),
        3,
        "replicas {replicas:?}\n{}",
        cluster.log()
    );
    let ports: BTreeSet<u16> = masters.iter().chain(&replicas).copied().collect();
    assert_eq!(ports.len(), 6, "six distinct nodes");
    assert_eq!(cluster.urls().len(), 6);

    let mut connection = cluster.connection().await;
    let _: () = redis::cmd("SET")
        .arg("harness:one")
        .arg("1")
        .query_async(&mut connection)
        .await
        .unwrap();
    let read: Option<String> = redis::cmd("GET")
        .arg("harness:one")
        .query_async(&mut connection)
        .await
        .unwrap();
    assert_eq!(read.as_deref(), Some("1"));
    assert!(masters.contains(&cluster.master_of_key("harness:one")));

    // Many names: each lands on the master that serves its slot, and all masters get some.
    let mut expected_on: BTreeSet<u16> = BTreeSet::new();
    for n in 0..100 {
        let key = format!("harness:{n}");
        let _: () = redis::cmd("SET")
            .arg(&key)
            .arg(n)
            .query_async(&mut connection)
            .await
            .unwrap();
        expected_on.insert(cluster.master_of_key(&key));
    }
    assert_eq!(expected_on.iter().copied().collect::<Vec<_>>(), masters);
    let sizes = cluster.dbsize_per_master().await;
    assert_eq!(sizes.len(), 3, "{sizes:?}");
    assert!(
        sizes.iter().all(|(_, size)| *size > 0),
        "every master holds keys: {sizes:?}"
    );
    assert_eq!(sizes.iter().map(|(_, size)| size).sum::<u64>(), 101);
    let keys = cluster.keys().await;
    assert_eq!(keys.len(), 101, "{keys:?}");
    assert!(keys.windows(2).all(|w| w[0] < w[1]), "sorted: {keys:?}");
    // Every key is on the master `master_of_key` names, and on no other.
    for (port, _) in &sizes {
        let mut node = redis::Client::open(format!("redis://127.0.0.1:{port}"))
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap();
        let on_node: Vec<String> = redis::cmd("KEYS")
            .arg("*")
            .query_async(&mut node)
            .await
            .unwrap();
        for key in on_node {
            assert_eq!(cluster.master_of_key(&key), *port, "{key}");
        }
    }
}

#[tokio::test]
async fn a_killed_master_is_replaced_by_its_replica_and_its_keys_are_served_again() {
    let mut cluster = RedisCluster::start();
    let mut connection = cluster.connection().await;
    let _: () = redis::cmd("SET")
        .arg("failover:key")
        .arg("before")
        .query_async(&mut connection)
        .await
        .unwrap();
    // WAIT: the write reached the replica, so it survives the failover.
    let acknowledged: i64 = redis::cmd("WAIT")
        .arg(1)
        .arg(5000)
        .query_async(&mut connection)
        .await
        .unwrap();
    assert_eq!(acknowledged, 1, "one replica acknowledged the write");
    let old_master = cluster.master_of_key("failover:key");
    let replicas_before = cluster.replicas();

    let killed_at = Instant::now();
    cluster.kill(old_master);
    cluster
        .wait_for_failover(old_master, Duration::from_secs(30))
        .await;
    println!("failover took {:?}", killed_at.elapsed());

    let masters = cluster.masters();
    assert_eq!(masters.len(), 3, "three live masters again: {masters:?}");
    assert!(!masters.contains(&old_master));
    let new_master = cluster.master_of_key("failover:key");
    assert_ne!(new_master, old_master);
    assert!(
        replicas_before.contains(&new_master),
        "a former replica ({new_master}) serves the slot; replicas were {replicas_before:?}"
    );
    assert_eq!(cluster.replicas().len(), 2, "one replica was promoted");

    // Reads and writes through a fresh connection reach the promoted master.
    let mut connection = cluster.connection().await;
    let read: Option<String> = redis::cmd("GET")
        .arg("failover:key")
        .query_async(&mut connection)
        .await
        .unwrap();
    assert_eq!(read.as_deref(), Some("before"));
    let _: () = redis::cmd("SET")
        .arg("failover:key")
        .arg("after")
        .query_async(&mut connection)
        .await
        .unwrap();
    assert!(cluster.keys().await.contains(&"failover:key".to_owned()));
}
