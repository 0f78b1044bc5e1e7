//! What an entry costs in memory, by the store's own accounting: `CACHE_MEMORY_MAX_BYTES` bounds
//! the sum of these weights, so they must count what an entry really holds, not only its bytes.
//!
//! - the key, once (moka's table and the ordered key set share one allocation);
//! - the encoded value, in a buffer of exactly its length (the store copies it so);
//! - the decoded copy kept beside it for `Clone` results, estimated as the JSON's length plus
//!   its headers: exact for strings, generous for numbers, low for many tiny strings;
//! - each index membership: a slot in the set's members and in the entry's list (index names
//!   are interned, shared by every member);
//! - a fixed overhead per entry: the entry record, moka's own bookkeeping (table slot, order
//!   queues, expiry timer, frequency sketch share), the ordered key set's node, and the
//!   allocator's headers, calibrated by measuring resident memory (see
//!   `tests/tests/memory_bound.rs`).

/// Fixed bytes per entry beyond its key, value, decoded copy and memberships.
pub(super) const ENTRY_OVERHEAD: u64 = 640;

/// Bytes per index membership.
pub(super) const MEMBERSHIP: u64 = 64;

/// Headers of a decoded copy: its `Arc`, the value's own header and allocator overhead.
pub(super) const DECODED_OVERHEAD: u64 = 64;

/// The weight of an entry under `key` holding `value_len` bytes, a decoded copy if `decoded`,
/// in `memberships` index sets.
pub(super) fn weigh(key_len: usize, value_len: usize, decoded: bool, memberships: usize) -> u64 {
    let value = value_len as u64;
    let decoded = if decoded { value + DECODED_OVERHEAD } else { 0 };
    key_len as u64 + value + decoded + memberships as u64 * MEMBERSHIP + ENTRY_OVERHEAD
}
