//! Invalidation in Redis by generations: what an entry is checked against, and how a write is
//! conditioned.
//!
//! # Design
//!
//! Each entry is stored in an envelope that carries a *stamp*: a 64-bit hash of the generation
//! tokens it was computed under (the service's, its tenant's, its function's and policy's lines
//! in those two, and one per tag; names in `crate::key::generation`). A read fetches the entry
//! and its generation keys with one `MGET` and serves the entry only if its stamp is the stamp
//! of the generations now. Invalidating a function, policy, tenant or tag writes a new random
//! token into one generation key: one command, whatever the number of entries, and every entry
//! under it stops matching at once. Invalidating one key writes a *tombstone* over it.
//!
//! A write is conditioned on what its lookup saw ([`Seen`](crate::store::Seen)): a key that did
//! not exist is written with `SET … NX`, so a tombstone that an invalidation wrote meanwhile
//! wins; a key that held something (an outdated entry, a tombstone, garbage) is replaced by a
//! script only if it still holds exactly that. A value computed before an invalidation of its
//! scope carries the old stamp and is never served, wherever it lands.
//!
//! # Against index sets (what this replaced)
//!
//! Index sets cost every miss a `SADD` and `PEXPIRE`s per set (11 commands for an untagged
//! entry), grew with every entry ever written (expired members are never removed), and, when
//! Redis evicted a set under `maxmemory`, the entries it indexed could no longer be invalidated:
//! a stale hit. Generations cost:
//! - a hit: the same round trip, with two more keys in the `MGET` (one per tag more);
//! - a miss: `GET` then `SET … NX`, as hand-written code does; a script when the key held
//!   something or a stale copy is kept;
//! - memory: one small key per tenant (and per tag in use), 29 bytes of envelope per entry; a
//!   generation key lives a day past its last write ([`LIFETIME`]);
//! - an invalidation by scope: one command; it does not delete the entries, which are never
//!   served again and expire with their TTL (`purge_tenant` deletes its tenant's keys as well);
//! - eviction: a generation key that Redis evicts reads as missing, which makes every entry
//!   under it a miss (a new token is drawn), never a stale hit. A tombstone lives for
//!   [`TOMBSTONE`]; if Redis evicts it before a computation that began earlier writes, that one
//!   write lands (allkeys-LRU evicts the least recently used keys, and a tombstone is new).

use std::hash::{BuildHasher, RandomState};
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::LazyLock;
use std::time::Duration;

use crate::key::Generations;

/// How long a tenant's or tag's generation key lives after it is created or extended; a write
/// of an entry that would outlive it extends it to twice the entry's TTL first.
pub(crate) const LIFETIME: Duration = Duration::from_secs(24 * 3600);

/// How long a tombstone keeps a computation that began before it from writing: a computation
/// longer than this may write what it computed.
pub(crate) const TOMBSTONE: Duration = Duration::from_secs(600);

/// The start of a JSON envelope: `{"g":"<16 hex digits>","v":<value>}`.
const JSON_HEAD: &[u8] = b"{\"g\":\"";
const JSON_MID: &[u8] = b"\",\"v\":";
const JSON_PAYLOAD: usize = JSON_HEAD.len() + 16 + JSON_MID.len();

/// The start of a binary envelope: `0xC1 'G'`, the stamp (8 bytes, big-endian), the value (which
/// starts with `0xC1` itself).
const BINARY_HEAD: &[u8] = b"\xC1G";
const BINARY_PAYLOAD: usize = BINARY_HEAD.len() + 8;

/// The start of a tombstone: `0xC1 'X'` and a token.
const TOMBSTONE_HEAD: &[u8] = b"\xC1X";

/// A fresh random token of 16 hex digits: a per-process seed and a sequence, hashed.
pub(crate) fn token() -> String {
    static SEED: LazyLock<RandomState> = LazyLock::new(RandomState::new);
    static SEQUENCE: AtomicU64 = AtomicU64::new(0);
    let sequence = SEQUENCE.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.as_nanos());
    format!(
        "{:016x}",
        SEED.hash_one((std::process::id(), sequence, nanos))
    )
}

/// A tombstone: what an invalidated key holds, different each time.
pub(crate) fn tombstone() -> Vec<u8> {
    let mut bytes = TOMBSTONE_HEAD.to_vec();
    bytes.extend_from_slice(token().as_bytes());
    bytes
}

/// Whether `raw` is a tombstone.
pub(crate) fn is_tombstone(raw: &[u8]) -> bool {
    raw.starts_with(TOMBSTONE_HEAD)
}

/// `value` in an envelope carrying `stamp`: JSON stays JSON (`redis-cli` shows
/// `{"g":"…","v":…}`), binary encodings (which start with `0xC1`) get a binary head.
pub(crate) fn wrap(stamp: u64, value: &[u8]) -> Vec<u8> {
    let mut out;
    if value.first() == Some(&0xC1) {
        out = Vec::with_capacity(BINARY_PAYLOAD + value.len());
        out.extend_from_slice(BINARY_HEAD);
        out.extend_from_slice(&stamp.to_be_bytes());
        out.extend_from_slice(value);
    } else {
        out = Vec::with_capacity(JSON_PAYLOAD + value.len() + 1);
        out.extend_from_slice(JSON_HEAD);
        out.extend_from_slice(format!("{stamp:016x}").as_bytes());
        out.extend_from_slice(JSON_MID);
        out.extend_from_slice(value);
        out.push(b'}');
    }
    out
}

/// The stamp of an envelope and where its value lies; `None` for anything else (a tombstone,
/// an entry of an older version of this crate, garbage).
pub(crate) fn unwrap(raw: &[u8]) -> Option<(u64, Range<usize>)> {
    if raw.starts_with(JSON_HEAD) {
        if raw.len() <= JSON_PAYLOAD || raw.last() != Some(&b'}') {
            return None;
        }
        let hex = std::str::from_utf8(&raw[JSON_HEAD.len()..JSON_HEAD.len() + 16]).ok()?;
        if &raw[JSON_HEAD.len() + 16..JSON_PAYLOAD] != JSON_MID {
            return None;
        }
        let stamp = u64::from_str_radix(hex, 16).ok()?;
        return Some((stamp, JSON_PAYLOAD..raw.len() - 1));
    }
    if raw.starts_with(BINARY_HEAD) && raw.len() > BINARY_PAYLOAD {
        let stamp = u64::from_be_bytes(raw[BINARY_HEAD.len()..BINARY_PAYLOAD].try_into().ok()?);
        return Some((stamp, BINARY_PAYLOAD..raw.len()));
    }
    None
}

/// The stamp of the generations now, from the replies to `gens.keys` in order; `None` when a
/// generation key does not exist (never created, expired or evicted).
pub(crate) fn stamp(gens: &Generations, replies: &[Option<&[u8]>]) -> Option<u64> {
    if replies.len() != gens.keys.len() || replies.len() < 2 {
        return None;
    }
    let mut hash = Fnv::default();
    for (i, reply) in replies.iter().enumerate() {
        let blob = (*reply)?;
        hash.write(base(blob));
        if i < 2 {
            hash.write(line(blob, &gens.fields.function));
            hash.write(
                gens.fields
                    .policy
                    .as_deref()
                    .map_or(&[][..], |p| line(blob, p)),
            );
        }
    }
    Some(hash.finish())
}

/// The generation itself: up to the first line break.
fn base(blob: &[u8]) -> &[u8] {
    let end = blob.iter().position(|&b| b == b'\n').unwrap_or(blob.len());
    &blob[..end]
}

/// The token of the line `\n{field} {token}`, empty without one.
fn line<'a>(blob: &'a [u8], field: &str) -> &'a [u8] {
    let field = field.as_bytes();
    let mut rest = blob;
    while let Some(at) = rest.iter().position(|&b| b == b'\n') {
        rest = &rest[at + 1..];
        let end = rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len());
        let candidate = &rest[..end];
        if candidate.len() > field.len()
            && candidate.starts_with(field)
            && candidate[field.len()] == b' '
        {
            return &candidate[field.len() + 1..];
        }
    }
    &[]
}

/// FNV-1a, 64 bits: a hash every process computes alike (the standard library's is seeded).
/// Tokens are random, so a new one changes the stamp but with odds of 2^-64.
struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv {
    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes.iter().chain(&[0xff]) {
            self.0 ^= u64::from(byte);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key::GenFields;

    fn gens(tags: usize) -> Generations {
        static FIELDS: LazyLock<GenFields> =
            LazyLock::new(|| GenFields::new("svc.quote", Some("svc.Policy.Short")));
        let mut keys = vec!["v1:gen".to_owned(), "v1:gen:_:".to_owned()];
        keys.extend((0..tags).map(|i| format!("v1:gen:_:tag:{i}")));
        Generations {
            keys,
            fields: &FIELDS,
        }
    }

    #[test]
    fn envelopes_round_trip_and_keep_json_readable() {
        let raw = wrap(0xdead_beef, br#"{"a":1.5}"#);
        assert_eq!(
            std::str::from_utf8(&raw).unwrap(),
            r#"{"g":"00000000deadbeef","v":{"a":1.5}}"#
        );
        let (stamp, range) = unwrap(&raw).unwrap();
        assert_eq!((stamp, &raw[range]), (0xdead_beef, &br#"{"a":1.5}"#[..]));
        let raw = wrap(7, b"\xC1M\x01\x02");
        let (stamp, range) = unwrap(&raw).unwrap();
        assert_eq!((stamp, &raw[range]), (7, &b"\xC1M\x01\x02"[..]));
    }

    #[test]
    fn anything_but_an_envelope_is_not_an_entry() {
        for raw in [
            &b""[..],
            b"42",
            br#"{"g":"00000000deadbeef","v":"#,
            br#"{"g":"zz000000deadbeef","v":1}"#,
            b"\xC1G1234567",
            &tombstone(),
        ] {
            assert!(unwrap(raw).is_none(), "{raw:?}");
        }
        assert!(is_tombstone(&tombstone()));
        assert_ne!(tombstone(), tombstone());
    }

    #[test]
    fn every_line_that_applies_changes_the_stamp_and_others_do_not() {
        let gens = gens(1);
        let stamp_of = |service: &str, tenant: &str, tag: &str| {
            stamp(
                &gens,
                &[
                    Some(service.as_bytes()),
                    Some(tenant.as_bytes()),
                    Some(tag.as_bytes()),
                ],
            )
            .unwrap()
        };
        let first = stamp_of("a", "b", "c");
        assert_eq!(
            first,
            stamp_of("a\nf svc.other 1", "b\np svc.Policy.Long 2", "c")
        );
        assert_ne!(first, stamp_of("a\nf svc.quote 1", "b", "c"));
        assert_ne!(first, stamp_of("a", "b\np svc.Policy.Short 2", "c"));
        assert_ne!(first, stamp_of("a", "b\nf svc.quote 3", "c"));
        assert_ne!(first, stamp_of("a", "b", "d"));
        assert_ne!(first, stamp_of("a2", "b", "c"));
        // A line for a function whose name extends this one's does not apply.
        assert_eq!(first, stamp_of("a\nf svc.quotes 1", "b", "c"));
    }

    #[test]
    fn a_missing_generation_has_no_stamp() {
        assert_eq!(stamp(&gens(0), &[Some(&b"a"[..]), None]), None);
        assert_eq!(stamp(&gens(1), &[Some(&b"a"[..]), Some(&b"b"[..])]), None);
    }
}
