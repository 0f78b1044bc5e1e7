//! The hash tags of the cluster layout.
//!
//! On Redis Cluster, a read fetches an entry and its generations with one `MGET`, and a write
//! script touches an entry and its stale copy: the keys of one operation must share a hash slot.
//! One slot for a whole tenant (or for the service's generation, which every read checks) would
//! put all of its traffic on one master. So the keyspace is cut into [`SHARDS`] shards: an entry
//! key ends in the hash tag of its shard (`v1:t=acme:quote:7203{12}`), chosen by a hash of the
//! key, and every generation key exists once per shard (`v1:gen{12}`, `v1:gen:t=acme:{12}`).
//! A read or write of one entry stays in one slot; the entries of one tenant, one function or
//! one tag spread over every shard, so over every master.
//!
//! The tags are chosen so that their slots are spread evenly over the 16384 slots (one in each
//! run of 1024), so that a cluster whose masters hold even ranges of slots (as `redis-cli
//! --cluster create` makes them) gets an even share of shards on each master.
//!
//! What it costs: an invalidation by scope (a tenant, a tag, a function, everything) draws a new
//! token in each shard's copy of its generation: [`SHARDS`] small scripts, sent at once, instead
//! of one. A hit or a miss costs what it costs on one server.
//!
//! The tags are part of the key names: changing [`SHARDS`] or how a key picks its shard changes
//! every name, so both are fixed.

use std::sync::LazyLock;

/// How many shards the cluster layout has.
pub(crate) const SHARDS: usize = 16;

/// The number of hash slots of Redis Cluster.
const SLOTS: u16 = 16384;

/// The hash tags (`{n}`, braces included), one per shard, in shard order.
static TAGS: LazyLock<Vec<String>> = LazyLock::new(|| {
    let span = SLOTS / SHARDS as u16;
    let mut tags: Vec<Option<String>> = vec![None; SHARDS];
    let mut n: u32 = 0;
    while tags.iter().any(Option::is_none) {
        let text = n.to_string();
        let shard = usize::from(slot(text.as_bytes()) / span);
        tags[shard].get_or_insert_with(|| format!("{{{text}}}"));
        n += 1;
    }
    tags.into_iter().flatten().collect()
});

/// The hash slot of `name` as Redis Cluster computes it (CRC16/XMODEM of the hash tag, or of the
/// whole name without one).
pub(crate) fn slot(name: &[u8]) -> u16 {
    let hashed = match name.iter().position(|&b| b == b'{') {
        Some(open) => match name[open + 1..].iter().position(|&b| b == b'}') {
            Some(0) | None => name,
            Some(len) => &name[open + 1..open + 1 + len],
        },
        None => name,
    };
    crc16::State::<crc16::XMODEM>::calculate(hashed) % SLOTS
}

/// Every shard's hash tag.
pub(crate) fn tags() -> &'static [String] {
    &TAGS
}

/// The shard of `name` (a key without a tag): an index into [`tags`].
pub(crate) fn shard_of(name: &str) -> usize {
    // `SHARDS` divides 2^64: the remainder is uniform.
    (spread(name.as_bytes()) % SHARDS as u64) as usize
}

/// The hash tag of the shard of `name` (a key without a tag).
pub(crate) fn tag_of(name: &str) -> &'static str {
    &TAGS[shard_of(name)]
}

/// A hash that every process computes alike and that spreads keys differing in a character or
/// two (`…:t=t1:q:~2`, `…:t=t2:q:~2`) over every shard: FNV-1a, then MurmurHash3's finalizer,
/// which mixes every input bit into the low bits. (CRC16 alone does not: it is linear, and
/// such keys pile onto a few shards.)
fn spread(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &byte in bytes {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash ^= hash >> 33;
    hash = hash.wrapping_mul(0xff51_afd7_ed55_8ccd);
    hash ^= hash >> 33;
    hash = hash.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    hash ^ (hash >> 33)
}

/// The shard's hash tag in `key`, if its hash tag (the first `{…}`, as Redis reads it) is one of
/// [`tags`]: an entry key, its stale copy (`…{11}#stale`), its lease, a counter (`…{11}:~5`).
pub(crate) fn tag_in(key: &str) -> Option<&'static str> {
    let open = key.find('{')?;
    let close = open + key[open..].find('}')?;
    let tag = &key[open..=close];
    TAGS.iter().find(|t| t.as_str() == tag).map(String::as_str)
}

/// The name that a key of the single-server layout has on Redis Cluster: `name` followed by the
/// hash tag of its shard. Entry keys, their stale copies (`#stale`) and leases (`#lock`) carry
/// their entry's tag; generation keys exist once per tag.
///
/// For reading entries with another client, e.g. `redis-cli -c GET "$(…)"`:
///
/// ```
/// let name = cache_runtime::cluster_key("v1:_:quote:7203");
/// assert!(name.starts_with("v1:_:quote:7203{") && name.ends_with('}'));
/// ```
pub fn cluster_key(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 6);
    out.push_str(name);
    out.push_str(tag_of(name));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_the_ones_redis_computes() {
        // Values from the Redis Cluster specification and `CLUSTER KEYSLOT`.
        assert_eq!(slot(b"123456789"), 0x31c3);
        assert_eq!(slot(b"foo"), 12182);
        assert_eq!(slot(b"{user1000}.following"), slot(b"user1000"));
        assert_eq!(slot(b"foo{}{bar}"), slot(b"foo{}{bar}"));
        assert_ne!(slot(b"foo{}{bar}"), slot(b"bar"));
    }

    #[test]
    fn each_tag_has_its_own_run_of_slots() {
        let tags = tags();
        assert_eq!(tags.len(), SHARDS);
        for (shard, tag) in tags.iter().enumerate() {
            let slot = usize::from(slot(tag.as_bytes()));
            assert_eq!(slot / 1024, shard, "{tag} is in slot {slot}");
        }
    }

    #[test]
    fn a_key_keeps_its_shard_and_its_companions_share_its_slot() {
        let key = cluster_key("v1:t=acme:quote:7203");
        assert_eq!(key, cluster_key("v1:t=acme:quote:7203"));
        let tag = tag_in(&key).expect("a tag");
        assert_eq!(
            slot(key.as_bytes()),
            slot(format!("{key}#stale").as_bytes())
        );
        assert_eq!(
            slot(key.as_bytes()),
            slot(format!("v1:gen{tag}").as_bytes())
        );
        assert_eq!(tag_in("v1:t=acme:quote:7203"), None);
        // A stale copy, a lease and a counter are in their entry's shard.
        for companion in ["#stale", "#lock", ":~5"] {
            assert_eq!(
                tag_in(&format!("{key}{companion}")),
                Some(tag),
                "{companion}"
            );
        }
    }

    #[test]
    fn keys_spread_over_every_shard() {
        let shard = |key: String| tags().iter().position(|t| t == tag_of(&key)).unwrap();
        let mut counts = [0usize; SHARDS];
        for i in 0..16_000 {
            counts[shard(format!("v1:t=tenant-{i}:quote:{i}"))] += 1;
        }
        assert!(
            counts.iter().all(|&c| (800..1200).contains(&c)),
            "{counts:?}"
        );
        // Keys that differ in one or two characters: what a linear hash piles up.
        let mut counts = [0usize; SHARDS];
        for tenant in 0..40 {
            for id in 0..8 {
                counts[shard(format!("v1:t=t{tenant}:q:~{id}"))] += 1;
            }
        }
        assert!(counts.iter().all(|&c| (8..36).contains(&c)), "{counts:?}");
    }
}
