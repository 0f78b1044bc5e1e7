//! Invalidation: by key, by function, by tenant, by policy and by tag.
//!
//! # Mechanism: index sets beside the entries
//!
//! Every stored entry is also added to a few Redis sets (the in-process store keeps the same
//! memberships on the entry itself):
//!
//! | index key | holds |
//! |---|---|
//! | `{prefix}:idx:fn:{function}` | the function's entries, every tenant |
//! | `{prefix}:idx:policy:{policy}` | the policy's entries, every tenant |
//! | `{prefix}:idx:{tenant}:all` | the tenant's entries |
//! | `{prefix}:idx:{tenant}:fn:{function}` | the tenant's entries of one function |
//! | `{prefix}:idx:{tenant}:policy:{policy}` | the tenant's entries of one policy |
//! | `{prefix}:idx:{tenant}:tag:{tag}` | the tenant's entries carrying a tag |
//!
//! `{tenant}` is the key's tenant segment (`t=<escaped id>` or `_`), `{function}` the function's
//! path with `.` for `::`, `{tag}` the rendered, escaped tag. An invalidation walks one set with
//! `SSCAN` and deletes its members (and their stale copies) with batched `UNLINK`, then the set.
//!
//! Costs: a hit pays nothing (no extra command); a write adds `SADD` + two `EXPIRE`s per set to
//! the write's pipeline (same round trip); an invalidation costs one `SSCAN` page and one
//! `UNLINK` per 256 entries. Each set lives as long as its longest-lived member (`EXPIRE NX`
//! then `EXPIRE GT`, Redis 7.0 or later). If Redis evicts a set under memory pressure, the
//! entries it indexed can no longer be invalidated by that set and live out their TTL;
//! [`Cache::purge_tenant`] scans the keyspace instead (`SCAN` with an escaped `MATCH`, on every
//! node) for when that must not happen.

use std::fmt;

use crate::engine::Cache;
use crate::key;
use crate::policy::TtlPolicy;
use crate::store::StoreError;

/// An invalidation that could not be carried out: the entries may still be served until their
/// TTL ends. Unlike lookups and writes, invalidations report failure, because the caller changed
/// the source of truth and must know when the cache did not follow.
#[derive(Debug)]
#[non_exhaustive]
pub struct InvalidateError {
    cause: StoreError,
}

impl InvalidateError {
    /// The store did not answer in time.
    pub fn is_timeout(&self) -> bool {
        matches!(self.cause, StoreError::Timeout)
    }

    /// The breaker is open: Redis was not asked.
    pub fn is_unavailable(&self) -> bool {
        matches!(self.cause, StoreError::BreakerOpen)
    }
}

impl fmt::Display for InvalidateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cache invalidation failed: {}", self.cause)
    }
}

impl std::error::Error for InvalidateError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.cause {
            StoreError::Redis(error) => Some(error),
            _ => None,
        }
    }
}

impl From<StoreError> for InvalidateError {
    fn from(cause: StoreError) -> Self {
        Self { cause }
    }
}

/// Names of the index sets an entry belongs to.
pub(crate) struct Indexes<'a> {
    pub(crate) prefix: &'a str,
    /// The entry's tenant segment: `t=<escaped id>` or `_`.
    pub(crate) tenant: &'a str,
    /// The function's path, `::`-separated.
    pub(crate) function: &'a str,
    /// The policy's name, if the TTL comes from a policy.
    pub(crate) policy: Option<&'a str>,
}

impl Indexes<'_> {
    pub(crate) fn all(&self, tags: &[String]) -> Vec<String> {
        let function = dotted(self.function);
        let mut sets = Vec::with_capacity(5 + tags.len());
        sets.push(function_index(self.prefix, self.function));
        sets.push(tenant_index(self.prefix, self.tenant, "all"));
        sets.push(tenant_index(
            self.prefix,
            self.tenant,
            &format!("fn:{function}"),
        ));
        if let Some(policy) = self.policy {
            sets.push(policy_index(self.prefix, policy));
            sets.push(tenant_index(
                self.prefix,
                self.tenant,
                &format!("policy:{policy}"),
            ));
        }
        for tag in tags {
            sets.push(tag_index(self.prefix, self.tenant, tag));
        }
        sets
    }
}

/// Every entry of the function at `path`, every tenant.
pub(crate) fn function_index(prefix: &str, path: &str) -> String {
    format!("{prefix}:idx:fn:{}", dotted(path))
}

/// Every entry of the policy named `policy`, every tenant.
pub(crate) fn policy_index(prefix: &str, policy: &str) -> String {
    format!("{prefix}:idx:policy:{policy}")
}

/// The entries of one tenant segment (`t=<escaped id>` or `_`): `rest` is `all`,
/// `fn:<function>`, `policy:<policy>` or `tag:<tag>`.
pub(crate) fn tenant_index(prefix: &str, tenant: &str, rest: &str) -> String {
    format!("{prefix}:idx:{tenant}:{rest}")
}

/// The entries of one tenant segment with the rendered tag `tag`.
pub(crate) fn tag_index(prefix: &str, tenant: &str, tag: &str) -> String {
    tenant_index(prefix, tenant, &format!("tag:{tag}"))
}

fn tenant_segment(tenant: Option<&str>) -> String {
    let mut segment = String::new();
    key::write_tenant(&mut segment, tenant);
    segment
}

/// `crate::module::function` -> `crate.module.function`.
pub(crate) fn dotted(path: &str) -> String {
    path.replace("::", ".")
}

impl Cache {
    /// Deletes one entry by its full key (as returned by a function's `key` companion).
    pub async fn invalidate_key(&self, key: &str) -> Result<u64, InvalidateError> {
        self.engine.delete_entries(vec![key.to_owned()]).await
    }

    /// Deletes every entry of one `#[cached]` function, for every tenant. `function` is its
    /// path, e.g. `"my_service::quotes::quote"` (what `module_path!()` gives, then the name).
    pub async fn invalidate_function(&self, function: &str) -> Result<u64, InvalidateError> {
        self.engine.delete_function(function).await
    }

    /// Deletes every entry stored under `policy`, for every tenant.
    pub async fn invalidate_policy(&self, policy: &dyn TtlPolicy) -> Result<u64, InvalidateError> {
        let index = policy_index(&self.engine.prefix, policy.name());
        self.engine.delete_index(index).await
    }

    /// Deletes every entry of `tenant` (`None`: of calls made outside any tenant).
    pub async fn invalidate_tenant(&self, tenant: Option<&str>) -> Result<u64, InvalidateError> {
        let index = tenant_index(&self.engine.prefix, &tenant_segment(tenant), "all");
        self.engine.delete_index(index).await
    }

    /// Deletes `tenant`'s entries of one function (see [`Cache::invalidate_function`]).
    pub async fn invalidate_tenant_function(
        &self,
        tenant: Option<&str>,
        function: &str,
    ) -> Result<u64, InvalidateError> {
        let rest = format!("fn:{}", dotted(function));
        let index = tenant_index(&self.engine.prefix, &tenant_segment(tenant), &rest);
        self.engine.delete_index(index).await
    }

    /// Deletes `tenant`'s entries stored under `policy`.
    pub async fn invalidate_tenant_policy(
        &self,
        tenant: Option<&str>,
        policy: &dyn TtlPolicy,
    ) -> Result<u64, InvalidateError> {
        let rest = format!("policy:{}", policy.name());
        let index = tenant_index(&self.engine.prefix, &tenant_segment(tenant), &rest);
        self.engine.delete_index(index).await
    }

    /// Deletes `tenant`'s entries carrying `tag`.
    pub async fn invalidate_tag(
        &self,
        tenant: Option<&str>,
        tag: &Tag,
    ) -> Result<u64, InvalidateError> {
        let index = tag_index(&self.engine.prefix, &tenant_segment(tenant), &tag.rendered);
        self.engine.delete_index(index).await
    }

    /// Deletes every key of `tenant` by scanning the keyspace (`SCAN` with an escaped `MATCH`,
    /// batched `UNLINK`, on every node), including entries whose index sets were evicted. Costs
    /// a pass over the whole keyspace: use it for data deletion requests, not on a request path.
    pub async fn purge_tenant(&self, tenant: Option<&str>) -> Result<u64, InvalidateError> {
        let segment = tenant_segment(tenant);
        let entries = format!("{}:{}:", self.engine.prefix, segment);
        let deleted = self.engine.delete_prefix(&entries).await?;
        // The tenant's index sets list its keys, which hold its argument values: they go too.
        let indexes = tenant_index(&self.engine.prefix, &segment, "");
        self.engine.delete_prefix(&indexes).await?;
        Ok(deleted)
    }
}

/// A tag, as declared with `tags = ["ticker:{ticker}"]`: a name and zero or more values.
///
/// ```
/// use cache_runtime::Tag;
///
/// // Matches entries of `#[cached(…, tags = ["ticker:{ticker}"])]` called with "7203".
/// let tag = Tag::new("ticker").with(&"7203");
/// assert_eq!(tag.as_str(), "ticker:7203");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Tag {
    rendered: String,
}

impl Tag {
    /// A tag with no values.
    pub fn new(name: &str) -> Self {
        let mut rendered = String::new();
        key::escape_into(&mut rendered, name);
        Self { rendered }
    }

    /// Appends a value, rendered and escaped as in keys.
    pub fn with<A: serde::Serialize + ?Sized>(mut self, value: &A) -> Self {
        self.rendered.push(':');
        if key::write_part(&mut self.rendered, value).is_err() {
            // A value whose `Serialize` fails renders as a marker no real value produces.
            self.rendered.push_str("~!");
        }
        self
    }

    /// The rendered tag, as it appears in index names.
    pub fn as_str(&self) -> &str {
        &self.rendered
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_names_keep_tenants_apart() {
        let indexes = Indexes {
            prefix: "v1",
            tenant: "t=acme",
            function: "svc::quotes::quote",
            policy: Some("stock_price"),
        };
        assert_eq!(
            indexes.all(&["ticker:7203".to_owned()]),
            [
                "v1:idx:fn:svc.quotes.quote",
                "v1:idx:t=acme:all",
                "v1:idx:t=acme:fn:svc.quotes.quote",
                "v1:idx:policy:stock_price",
                "v1:idx:t=acme:policy:stock_price",
                "v1:idx:t=acme:tag:ticker:7203",
            ]
        );
    }
}
