//! The key layout: the one module that formats the names the runtime writes to a store.
//!
//! | name | form |
//! |---|---|
//! | entry | `{prefix}:{tenant}:{key}[#v{version}]` |
//! | stale copy (`stale_if_error`) | `{entry}#stale` |
//! | lease (`lock`) | `{entry}#lock` |
//! | index set | `{prefix}:idx:fn:{function}`, `{prefix}:idx:policy:{policy}`, `{prefix}:idx:{tenant}:all`, `{prefix}:idx:{tenant}:fn:{function}`, `{prefix}:idx:{tenant}:policy:{policy}`, `{prefix}:idx:{tenant}:tag:{tag}` |
//! | invalidation channel (local tier) | `{prefix}:invalidations` |
//!
//! - `prefix` comes from `CACHE_PREFIX` (default `v1`); bump it to drop every entry at once.
//! - `tenant` is `t={escaped tenant id}` inside a tenant scope and `_` outside any.
//! - `key` is the rendered template, e.g. `ai_analysis:7203:ShortTerm`, or, when the attribute
//!   has no template, the function's identity with `.` for `::` and then every argument.
//! - `function` is the function's identity (module path, impl type, name) with `.` for `::`;
//!   `policy` the policy's identity (module path, enum, variant) likewise. Both are escaped like
//!   argument values ([`part`]), so neither can hold `:` or a glob character.
//!
//! Every name is bounded ([`bound`]): an entry key or index name longer than
//! `CACHE_MAX_KEY_BYTES` (default 512), or a tenant segment longer than 96 bytes, keeps a
//! readable head (always the prefix and tenant segment) and ends in `#h` and the SHA-256 of the
//! whole name, e.g. `v1:t=acme:report:aaaa…aaaa#h3f9c…`.

mod bound;
mod canonical;
mod error;
mod generation;
mod part;
pub(crate) mod shard;
mod tag;

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use self::bound::{shorten, MAX_TENANT_SEGMENT};
pub(crate) use self::bound::{DEFAULT_KEY_BYTES, MAX_PREFIX, MIN_KEY_BYTES};
pub(crate) use self::error::KeyError;
pub(crate) use self::generation::{GenFields, GenTarget, Generations, Scope};
use self::part::{escape_into, write_part};
pub use self::shard::cluster_key;
pub use self::tag::Tag;

/// Suffix of the stale copy kept for `stale_if_error`.
const STALE: &str = "#stale";
/// Suffix of the cross-process lease of `lock`.
const LOCK: &str = "#lock";
/// Suffix of an invalidation's mark.
const MARK: &str = "#inv";
/// Suffix before the attribute's `version`.
const VERSION: &str = "#v";

/// Owns every name the runtime writes, for one key prefix.
#[derive(Debug, Clone)]
pub(crate) struct KeyLayout {
    prefix: String,
    /// The longest entry key or index name before it is shortened to a head and a hash.
    max_key_bytes: usize,
    /// Writes whose entry key or an index name was shortened.
    shortened: Arc<AtomicU64>,
    /// `{prefix}:gen`, read on every Redis hit: formatted once (on a cluster, once per shard,
    /// in the order of [`shard::tags`]).
    service_generation: Vec<String>,
    /// Whether names follow the cluster layout ([`shard`]): entry keys end in their shard's hash
    /// tag, generation keys exist once per shard.
    cluster: bool,
}

impl KeyLayout {
    /// `prefix` is checked by the configuration (letters, digits, `-`, `_`, `.`; at most
    /// [`MAX_PREFIX`] bytes), and so is `max_key_bytes` (at least [`MIN_KEY_BYTES`]).
    pub(crate) fn new(prefix: String, max_key_bytes: usize) -> Self {
        Self {
            service_generation: vec![format!("{prefix}:gen")],
            prefix,
            max_key_bytes,
            shortened: Arc::default(),
            cluster: false,
        }
    }

    /// The same names in the cluster layout ([`shard`]).
    pub(crate) fn on_cluster(mut self) -> Self {
        self.service_generation = shard::tags()
            .iter()
            .map(|tag| format!("{}:gen{tag}", self.prefix))
            .collect();
        self.cluster = true;
        self
    }

    /// How many writes had a name longer than the bound, written as a head and a hash.
    pub(crate) fn shortened_writes(&self) -> u64 {
        self.shortened.load(Ordering::Relaxed)
    }

    pub(crate) fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The full entry key of `key`: `{prefix}:{tenant}:{key}[#v{version}]`. The tenant is the
    /// key's own (`tenant = arg`) if it has one, else `scope_tenant`, read by the caller when the
    /// operation runs. Past the bound, the key is shortened to a head and a hash (the prefix and
    /// tenant segment always stay).
    pub(crate) fn entry(
        &self,
        key: KeyBuilder,
        scope_tenant: Option<&str>,
        version: u32,
    ) -> EntryKey {
        let mut full = String::with_capacity(self.prefix.len() + key.key.len() + 24);
        full.push_str(&self.prefix);
        full.push(':');
        let tenant_end = match key.tenant_len {
            Some(len) => full.len() + len,
            None => {
                write_tenant(&mut full, scope_tenant);
                let end = full.len();
                full.push(':');
                end
            }
        };
        full.push_str(&key.key);
        if version > 0 {
            full.push_str(VERSION);
            let _ = write!(full, "{version}");
        }
        shorten(&mut full, tenant_end + 1, self.max_key_bytes);
        let shard = self.cluster.then(|| {
            let shard = shard::shard_of(&full);
            full.push_str(&shard::tags()[shard]);
            shard
        });
        EntryKey {
            key: full,
            tenant_end,
            tags: key.tags,
            shard,
        }
    }

    /// The channel on which local tiers publish and receive invalidations.
    pub(crate) fn channel(&self) -> String {
        format!("{}:invalidations", self.prefix)
    }

    /// Every key of one tenant (`None`: of calls outside any tenant) starts with this.
    pub(crate) fn tenant_entries(&self, tenant: Option<&str>) -> String {
        let mut prefix = format!("{}:", self.prefix);
        write_tenant(&mut prefix, tenant);
        prefix.push(':');
        prefix
    }

    /// Every index set of one tenant starts with this.
    pub(crate) fn tenant_indexes(&self, tenant: Option<&str>) -> String {
        let mut prefix = format!("{}:idx:", self.prefix);
        write_tenant(&mut prefix, tenant);
        prefix.push(':');
        prefix
    }

    /// The index sets an entry joins (for its write: a shortened name is counted here).
    pub(crate) fn indexes(
        &self,
        entry: &EntryKey,
        function: &str,
        policy: Option<&str>,
    ) -> Vec<String> {
        let tenant = entry.tenant_segment(&self.prefix);
        let mut sets = Vec::with_capacity(5 + entry.tags.len());
        sets.push(self.function_index(function));
        sets.push(self.tenant_index(tenant, "all"));
        sets.push(self.tenant_index(tenant, &format!("fn:{}", function_text(function))));
        if let Some(policy) = policy {
            sets.push(self.policy_index(policy));
            sets.push(self.tenant_index(tenant, &format!("policy:{}", function_text(policy))));
        }
        for tag in &entry.tags {
            sets.push(self.tenant_index(tenant, &format!("tag:{tag}")));
        }
        if is_short(&entry.key) || sets.iter().any(|set| is_short(set)) {
            self.shortened.fetch_add(1, Ordering::Relaxed);
        }
        sets
    }

    /// Every entry of the function with this identity, every tenant.
    pub(crate) fn function_index(&self, function: &str) -> String {
        self.bounded_index(format!(
            "{}:idx:fn:{}",
            self.prefix,
            function_text(function)
        ))
    }

    /// Every entry of the policy with this identity, every tenant.
    pub(crate) fn policy_index(&self, policy: &str) -> String {
        self.bounded_index(format!(
            "{}:idx:policy:{}",
            self.prefix,
            function_text(policy)
        ))
    }

    /// `name`, shortened past the bound; `{prefix}:idx:` always stays.
    fn bounded_index(&self, mut name: String) -> String {
        shorten(&mut name, self.prefix.len() + 5, self.max_key_bytes);
        name
    }

    /// Every entry of one tenant.
    pub(crate) fn tenant_all_index(&self, tenant: Option<&str>) -> String {
        self.tenant_index(&segment(tenant), "all")
    }

    /// One tenant's entries of one function.
    pub(crate) fn tenant_function_index(&self, tenant: Option<&str>, function: &str) -> String {
        self.tenant_index(&segment(tenant), &format!("fn:{}", function_text(function)))
    }

    /// One tenant's entries of one policy.
    pub(crate) fn tenant_policy_index(&self, tenant: Option<&str>, policy: &str) -> String {
        self.tenant_index(
            &segment(tenant),
            &format!("policy:{}", function_text(policy)),
        )
    }

    /// One tenant's entries carrying `tag`.
    pub(crate) fn tag_index(&self, tenant: Option<&str>, tag: &Tag) -> String {
        self.tenant_index(&segment(tenant), &format!("tag:{}", tag.as_str()))
    }

    /// The tag index of a tag rendered into an entry key of `entry`'s tenant.
    pub(crate) fn entry_tag_index(&self, entry: &EntryKey, tag: &str) -> String {
        self.tenant_index(entry.tenant_segment(&self.prefix), &format!("tag:{tag}"))
    }

    /// The tenant-wide index of `entry`'s tenant.
    pub(crate) fn entry_tenant_index(&self, entry: &EntryKey) -> String {
        self.tenant_index(entry.tenant_segment(&self.prefix), "all")
    }

    /// The mark an invalidation of `name` (an entry, an index set or a key prefix) leaves, so
    /// that a write which began before it does not land after it. Marks live in the bookkeeping
    /// namespace, a tenant's under its index prefix, so that purging the tenant removes them:
    /// - an index set: `{set}#inv`;
    /// - an entry `{prefix}:{tenant}:{key}`: `{prefix}:idx:{tenant}:{key}#inv`;
    /// - a tenant's entries (`purge_tenant`): `{prefix}:idx:purged:{SHA-256 of the tenant
    ///   segment}`, which outlives the purge without naming the tenant;
    /// - every entry: `{prefix}:idx:#inv`.
    ///
    /// Two names may share a mark (an entry whose key reads like an index set's name): a
    /// mark only refuses writes, so that costs a recomputation at most.
    pub(crate) fn mark(&self, name: &str) -> String {
        let rest = name
            .strip_prefix(self.prefix.as_str())
            .and_then(|rest| rest.strip_prefix(':'))
            .unwrap_or(name);
        if rest.starts_with("idx:") {
            return self.bounded_index(format!("{name}{MARK}"));
        }
        match rest.strip_suffix(':') {
            Some(tenant) if !tenant.is_empty() && !tenant.contains(':') => {
                format!("{}:idx:purged:{}", self.prefix, bound::digest_hex(tenant))
            }
            _ => self.bounded_index(format!("{}:idx:{rest}{MARK}", self.prefix)),
        }
    }

    /// The marks a write of `entry` joining `sets` must not find newer than itself: its own, its
    /// index sets', its tenant's (`purge_tenant`) and the whole prefix's.
    pub(crate) fn write_marks(&self, entry: &EntryKey, sets: &[String]) -> Vec<String> {
        let mut marks = Vec::with_capacity(sets.len() + 3);
        marks.push(self.mark(&entry.key));
        marks.extend(sets.iter().map(|set| self.mark(set)));
        let tenant = entry.key.get(..=entry.tenant_end).unwrap_or_default();
        marks.push(self.mark(tenant));
        marks.push(self.mark(&self.everything()));
        marks
    }

    /// The prefix of every key of this layout.
    pub(crate) fn everything(&self) -> String {
        format!("{}:", self.prefix)
    }

    /// `{prefix}:idx:{tenant}:{rest}`, shortened past the bound; the part up to the tenant
    /// segment always stays, so that a tenant's index sets share their prefix.
    fn tenant_index(&self, tenant: &str, rest: &str) -> String {
        let mut name = format!("{}:idx:{tenant}:{rest}", self.prefix);
        shorten(
            &mut name,
            self.prefix.len() + 5 + tenant.len() + 1,
            self.max_key_bytes,
        );
        name
    }
}

/// The stale copy of `entry`, kept for `stale_if_error`.
pub(crate) fn stale_key(entry: &str) -> String {
    format!("{entry}{STALE}")
}

/// The lease that `lock` takes on `entry`.
pub(crate) fn lock_key(entry: &str) -> String {
    format!("{entry}{LOCK}")
}

/// A function's or policy's identity (`my_crate::module::name`) as key text: `.` for `::`, every
/// segment escaped (an impl type such as `Svc<_>` holds characters a key text must not).
pub(crate) fn function_text(identity: &str) -> String {
    let mut text = String::with_capacity(identity.len());
    for (i, segment) in split_path(identity).into_iter().enumerate() {
        if i > 0 {
            text.push('.');
        }
        escape_into(&mut text, segment);
    }
    text
}

/// `a::B<c::D>::e` -> `["a", "B<c::D>", "e"]`: `::` inside angle brackets does not split.
pub(crate) fn split_path(path: &str) -> Vec<&str> {
    let mut segments = Vec::new();
    let (mut depth, mut start) = (0usize, 0);
    let bytes = path.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'<' => depth += 1,
            b'>' => depth = depth.saturating_sub(1),
            b':' if depth == 0 && bytes.get(i + 1) == Some(&b':') => {
                segments.push(&path[start..i]);
                start = i + 2;
                i += 1;
            }
            _ => {}
        }
        i += 1;
    }
    segments.push(&path[start..]);
    segments
}

fn segment(tenant: Option<&str>) -> String {
    let mut out = String::new();
    write_tenant(&mut out, tenant);
    out
}

/// The tenant segment: `t={escaped id}` (shortened past 96 bytes), or `_` outside any tenant.
fn write_tenant(out: &mut String, tenant: Option<&str>) {
    match tenant {
        Some(id) => {
            let start = out.len();
            out.push_str("t=");
            escape_into(out, id);
            if out.len() - start > MAX_TENANT_SEGMENT {
                let mut segment = out.split_off(start);
                shorten(&mut segment, 2, MAX_TENANT_SEGMENT);
                out.push_str(&segment);
            }
        }
        None => out.push('_'),
    }
}

/// Whether `name` (or its tenant segment) was shortened to a head and a hash: no other name
/// contains `#h` (see [`bound`]).
fn is_short(name: &str) -> bool {
    name.contains("#h")
}

/// An entry key under construction: template text, escaped argument values and tags, without
/// the prefix and the scope's tenant, which [`KeyLayout::entry`] adds when the key is used.
#[derive(Clone)]
pub(crate) struct KeyBuilder {
    /// `t={escaped id}:` when the tenant is an argument, then the key text.
    key: String,
    /// The length of that tenant segment (without its `:`), when there is one.
    tenant_len: Option<usize>,
    tags: Vec<String>,
    /// Whether `text`/`arg` currently write into the last tag rather than the key.
    in_tag: bool,
}

impl KeyBuilder {
    /// Starts a key; `tenant` is a tenant given by an argument, which wins over any scope.
    pub(crate) fn new(tenant: Option<&str>) -> Self {
        let mut key = String::with_capacity(64);
        let tenant_len = tenant.map(|id| {
            write_tenant(&mut key, Some(id));
            let len = key.len();
            key.push(':');
            len
        });
        Self {
            key,
            tenant_len,
            tags: Vec::new(),
            in_tag: false,
        }
    }

    /// Whether the tenant is fixed by an argument.
    pub(crate) fn has_tenant(&self) -> bool {
        self.tenant_len.is_some()
    }

    fn target(&mut self) -> &mut String {
        match self.tags.last_mut() {
            Some(tag) if self.in_tag => tag,
            _ => &mut self.key,
        }
    }

    /// Literal template text, checked at compile time to need no escaping.
    pub(crate) fn text(&mut self, text: &str) {
        self.target().push_str(text);
    }

    /// Starts a tag named `name`: the following `arg`s are its values.
    pub(crate) fn tag(&mut self, name: &str) {
        let mut tag = String::with_capacity(name.len() + 16);
        escape_into(&mut tag, name);
        self.tags.push(tag);
        self.in_tag = true;
    }

    /// The function's identity as key text: the start of a derived key.
    pub(crate) fn function(&mut self, function_text: &str) {
        self.key.push_str(function_text);
    }

    /// One argument value, escaped (in a tag: after a `:`).
    pub(crate) fn arg<A: serde::Serialize + ?Sized>(&mut self, value: &A) -> Result<(), KeyError> {
        let in_tag = self.in_tag;
        let target = self.target();
        if in_tag {
            target.push(':');
        }
        write_part(target, value)
    }
}

/// A rendered key with what invalidation needs to know about it.
#[derive(Debug, Clone)]
pub(crate) struct EntryKey {
    /// The full key: `{prefix}:{tenant}:{key}[#v{version}]`.
    pub(crate) key: String,
    /// `key[..tenant_end]` is `{prefix}:{tenant}`.
    tenant_end: usize,
    /// Rendered tags (`name:value…`), each escaped.
    pub(crate) tags: Vec<String>,
    /// The shard whose hash tag `key` ends with in the cluster layout (an index into
    /// [`shard::tags`]).
    pub(crate) shard: Option<usize>,
}

impl EntryKey {
    /// The tenant segment: `t=<escaped id>` or `_`.
    fn tenant_segment(&self, prefix: &str) -> &str {
        self.key
            .get(prefix.len() + 1..self.tenant_end)
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests;
