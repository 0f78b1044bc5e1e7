//! The names of the generations that entries in Redis are checked against (see
//! `store::redis::generation` for how they are read and bumped).
//!
//! | name | holds | bumped by |
//! |---|---|---|
//! | `{prefix}:gen` | the service's generation, then one line per function (`f …`) and policy (`p …`) invalidated service-wide | `invalidate_function`, `invalidate_policy`, an invalidation of everything |
//! | `{prefix}:gen:{tenant}:` | the tenant's generation, then one line per function and policy invalidated for the tenant | `invalidate_tenant`, `invalidate_tenant_function`, `invalidate_tenant_policy`, `purge_tenant` |
//! | `{prefix}:gen:{tenant}:tag:{tag}` | the generation of one tag of one tenant | `invalidate_tag`, `#[cache_evict]` of a tagged entry |
//!
//! `{tenant}` is the tenant segment of the entry key (`t=…` or `_`), so the names of one tenant
//! share the prefix `{prefix}:gen:{tenant}:` and no other tenant's name starts with it.

use super::{EntryKey, KeyLayout, Tag};

/// Where one invalidation is recorded: a generation key, and the line in it (`None`: the
/// key's own generation, which resets its lines too).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct GenTarget {
    pub(crate) key: String,
    pub(crate) field: Option<String>,
    /// Whether the key expires when unused (a tenant's, a tag's); the service's does not.
    pub(crate) expires: bool,
}

/// A group of entries that one invalidation drops: the index set of the in-process store, and
/// the generation of Redis (`store::redis::generation`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Scope {
    pub(crate) set: String,
    pub(crate) generation: GenTarget,
}

/// The lines of a function and of its policy in a generation key: computed once per site.
#[derive(Debug)]
pub(crate) struct GenFields {
    pub(crate) function: String,
    pub(crate) policy: Option<String>,
}

impl GenFields {
    /// `function` and `policy` are identities as key text (`super::function_text`).
    pub(crate) fn new(function_text: &str, policy_text: Option<&str>) -> Self {
        Self {
            function: function_field(function_text),
            policy: policy_text.map(policy_field),
        }
    }
}

fn function_field(function_text: &str) -> String {
    format!("f {function_text}")
}

fn policy_field(policy_text: &str) -> String {
    format!("p {policy_text}")
}

/// What a read in Redis checks an entry against: the generation keys, in order the service's,
/// the tenant's, then one per tag, and the lines of the service's and tenant's keys that apply.
#[derive(Debug, Clone)]
pub(crate) struct Generations {
    pub(crate) keys: Vec<String>,
    pub(crate) fields: &'static GenFields,
}

impl KeyLayout {
    /// The service's generation key (on a cluster, the name without a shard's tag: a
    /// [`GenTarget`] stands for every shard's copy).
    pub(crate) fn service_generation(&self) -> String {
        format!("{}:gen", self.prefix)
    }

    /// The service's generation key that `entry` is read with: formatted once per shard.
    fn entry_service_generation(&self, entry: &EntryKey) -> String {
        self.service_generation[entry.shard.unwrap_or(0)].clone()
    }

    /// The generation key of a tenant segment (`t=…` or `_`).
    fn tenant_generation(&self, tenant: &str) -> String {
        format!("{}:gen:{tenant}:", self.prefix)
    }

    /// Every generation key of one tenant starts with this (`purge_tenant` deletes them).
    pub(crate) fn tenant_generations(&self, tenant: Option<&str>) -> String {
        self.tenant_generation(&super::segment(tenant))
    }

    fn tag_generation(&self, tenant: &str, tag: &str) -> String {
        let mut name = format!("{}:gen:{tenant}:tag:{tag}", self.prefix);
        super::bound::shorten(
            &mut name,
            self.prefix.len() + 5 + tenant.len() + 1,
            self.max_key_bytes,
        );
        name
    }

    /// Counts a write to Redis of `entry` whose key or a generation name was shortened.
    pub(crate) fn note_write(&self, entry: &EntryKey) {
        let tenant = entry.tenant_segment(&self.prefix);
        if super::is_short(&entry.key)
            || entry
                .tags
                .iter()
                .any(|tag| super::is_short(&self.tag_generation(tenant, tag)))
        {
            self.shortened
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    }

    /// What a read of `entry` is checked against.
    pub(crate) fn generations(&self, entry: &EntryKey, fields: &'static GenFields) -> Generations {
        let tenant = entry.tenant_segment(&self.prefix);
        let mut keys = Vec::with_capacity(2 + entry.tags.len());
        keys.push(self.entry_service_generation(entry));
        keys.push(self.tenant_generation(tenant));
        for tag in &entry.tags {
            keys.push(self.tag_generation(tenant, tag));
        }
        if let Some(shard) = entry.shard {
            for key in &mut keys[1..] {
                key.push_str(&super::shard::tags()[shard]);
            }
        }
        Generations { keys, fields }
    }

    /// Every entry of every tenant: under the prefix, and the service's generation.
    pub(crate) fn everything_scope(&self) -> (String, GenTarget) {
        let generation = GenTarget {
            key: self.service_generation(),
            field: None,
            expires: false,
        };
        (self.everything(), generation)
    }

    /// Every entry of one tenant: under its prefix, and its generation.
    pub(crate) fn tenant_prefix_scope(&self, tenant: Option<&str>) -> (String, GenTarget) {
        let generation = GenTarget {
            key: self.tenant_generations(tenant),
            field: None,
            expires: true,
        };
        (self.tenant_entries(tenant), generation)
    }

    /// Every entry of the function with this identity, every tenant.
    pub(crate) fn function_scope(&self, function: &str) -> Scope {
        Scope {
            set: self.function_index(function),
            generation: GenTarget {
                key: self.service_generation(),
                field: Some(function_field(&super::function_text(function))),
                expires: false,
            },
        }
    }

    /// Every entry of the policy with this identity, every tenant.
    pub(crate) fn policy_scope(&self, policy: &str) -> Scope {
        Scope {
            set: self.policy_index(policy),
            generation: GenTarget {
                key: self.service_generation(),
                field: Some(policy_field(&super::function_text(policy))),
                expires: false,
            },
        }
    }

    /// Every entry of one tenant.
    pub(crate) fn tenant_scope(&self, tenant: Option<&str>) -> Scope {
        Scope {
            set: self.tenant_all_index(tenant),
            generation: GenTarget {
                key: self.tenant_generations(tenant),
                field: None,
                expires: true,
            },
        }
    }

    /// One tenant's entries of one function.
    pub(crate) fn tenant_function_scope(&self, tenant: Option<&str>, function: &str) -> Scope {
        Scope {
            set: self.tenant_function_index(tenant, function),
            generation: GenTarget {
                key: self.tenant_generations(tenant),
                field: Some(function_field(&super::function_text(function))),
                expires: true,
            },
        }
    }

    /// One tenant's entries of one policy.
    pub(crate) fn tenant_policy_scope(&self, tenant: Option<&str>, policy: &str) -> Scope {
        Scope {
            set: self.tenant_policy_index(tenant, policy),
            generation: GenTarget {
                key: self.tenant_generations(tenant),
                field: Some(policy_field(&super::function_text(policy))),
                expires: true,
            },
        }
    }

    /// One tenant's entries carrying `tag`.
    pub(crate) fn tag_scope(&self, tenant: Option<&str>, tag: &Tag) -> Scope {
        Scope {
            set: self.tag_index(tenant, tag),
            generation: GenTarget {
                key: self.tag_generation(&super::segment(tenant), tag.as_str()),
                field: None,
                expires: true,
            },
        }
    }

    /// The entries of `entry`'s tenant carrying `tag` (rendered in the entry's key).
    pub(crate) fn entry_tag_scope(&self, entry: &EntryKey, tag: &str) -> Scope {
        Scope {
            set: self.entry_tag_index(entry, tag),
            generation: GenTarget {
                key: self.tag_generation(entry.tenant_segment(&self.prefix), tag),
                field: None,
                expires: true,
            },
        }
    }

    /// Every entry of `entry`'s tenant.
    pub(crate) fn entry_tenant_scope(&self, entry: &EntryKey) -> Scope {
        Scope {
            set: self.entry_tenant_index(entry),
            generation: GenTarget {
                key: self.tenant_generation(entry.tenant_segment(&self.prefix)),
                field: None,
                expires: true,
            },
        }
    }
}
