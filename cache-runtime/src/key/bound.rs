//! Bounded names: a key, index name or tenant segment longer than its bound keeps a readable
//! head and ends in `#h` and the SHA-256 of the whole name, so that a key argument or tenant id
//! from user input cannot make the runtime write (and index) megabytes per call.
//!
//! Why this cannot make two names share an entry:
//! - a name that was not shortened never contains `#h`: argument values, tenant ids and
//!   identities are escaped (`#` becomes `%23`), template text cannot hold `#`, and the only
//!   other `#` of an entry key is the `#v{version}` suffix;
//! - two shortened names are equal only if the hashes of the two whole names are: a SHA-256
//!   collision, which nobody can produce, even on purpose.

use std::fmt::Write as _;

use sha2::{Digest, Sha256};

/// Marks the start of the hash in a shortened name.
const HASH_MARK: &str = "#h";

/// Bytes a shortened name spends on the mark and the hash (hex).
pub(super) const TAIL: usize = HASH_MARK.len() + 64;

/// The longest tenant segment (`t=` and the escaped id) before it is shortened. With a prefix of
/// at most [`MAX_PREFIX`] bytes, the head of every key and index name (prefix, `idx`, tenant
/// segment) plus a hash fits in [`MIN_KEY_BYTES`].
pub(super) const MAX_TENANT_SEGMENT: usize = 96;

/// The longest `CACHE_PREFIX`.
pub(crate) const MAX_PREFIX: usize = 64;

/// The smallest `CACHE_MAX_KEY_BYTES`: room for the head of any name and a hash.
pub(crate) const MIN_KEY_BYTES: usize = 256;

/// The default `CACHE_MAX_KEY_BYTES`.
pub(crate) const DEFAULT_KEY_BYTES: usize = 512;

/// The SHA-256 of `text` in hex: a name that stands for `text` without spelling it.
pub(super) fn digest_hex(text: &str) -> String {
    let mut hex = String::with_capacity(64);
    for byte in Sha256::digest(text.as_bytes()).iter() {
        let _ = write!(hex, "{byte:02x}");
    }
    hex
}

/// Shortens `name` to at most `max` bytes if it is longer: the first bytes, but never fewer
/// than `keep` (the prefix and tenant segment, which prefix deletes and index names rely on),
/// then `#h` and the SHA-256 of the whole name in hex. Returns whether it shortened `name`.
pub(super) fn shorten(name: &mut String, keep: usize, max: usize) -> bool {
    if name.len() <= max {
        return false;
    }
    let digest = Sha256::digest(name.as_bytes());
    let mut cut = max.saturating_sub(TAIL).max(keep).min(name.len());
    while !name.is_char_boundary(cut) {
        cut -= 1;
    }
    name.truncate(cut);
    name.push_str(HASH_MARK);
    for byte in digest.iter() {
        let _ = write!(name, "{byte:02x}");
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_names_are_left_alone() {
        let mut name = "v1:_:quote:7203".to_owned();
        assert!(!shorten(&mut name, 5, 20));
        assert_eq!(name, "v1:_:quote:7203");
    }

    #[test]
    fn long_names_keep_a_readable_head_and_end_in_the_hash() {
        let long = format!("v1:_:quote:{}", "x".repeat(1000));
        let mut name = long.clone();
        assert!(shorten(&mut name, 5, 300));
        assert_eq!(name.len(), 300);
        assert!(name.starts_with("v1:_:quote:xxx"), "{name}");
        let hash = &name[300 - 64..];
        assert!(hash.bytes().all(|b| b.is_ascii_hexdigit()), "{name}");
        assert_eq!(&name[300 - TAIL..300 - 64], HASH_MARK);

        let mut other = format!("{long}y");
        shorten(&mut other, 5, 300);
        assert_ne!(name, other, "names that share their head differ by hash");
        let mut again = long;
        shorten(&mut again, 5, 300);
        assert_eq!(name, again, "the same name shortens the same way");
    }

    #[test]
    fn the_head_that_must_stay_is_kept_even_past_the_bound() {
        let mut name = format!("{}:rest", "h".repeat(200));
        assert!(shorten(&mut name, 201, 100));
        assert!(name.starts_with(&format!("{}:", "h".repeat(200))));
    }

    #[test]
    fn a_cut_never_splits_a_character() {
        let mut name = "日".repeat(200);
        assert!(shorten(&mut name, 0, 100));
        assert!(name.len() <= 100);
    }
}
