//! A `#[cached]` function as the engine sees it: its [`Spec`] (written by the macro once, at the
//! attribute) and its [`Identity`] (where in the source it is), held in a [`Site`], a `static`
//! of the expansion.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

use crate::codec::{Codec, Compression};
use crate::key;
use crate::policy::TtlPolicy;

/// Where a call site's TTL comes from.
#[derive(Clone, Copy)]
pub enum Ttl {
    /// A policy variant, looked up (with overrides) at run time.
    Policy(&'static dyn TtlPolicy),
    /// A literal duration from the attribute.
    Fixed(Duration),
}

/// What the attribute of one `#[cached]` function says, as constants. `#[cached]` also emits a
/// `const __cache_spec_<name>: Spec`, through which `#[cache_put]` and
/// `#[cache_evict]` take the function's TTL, version and identity instead of restating them.
#[derive(Clone, Copy)]
pub struct Spec {
    /// `core::any::type_name_of_val` of a function nested in the item that holds the spec: its
    /// path names the module, the impl type and any enclosing function.
    probe: fn() -> &'static str,
    name: &'static str,
    pub(crate) ttl: Ttl,
    pub(crate) version: u32,
    pub(crate) require_tenant: bool,
    /// The key template as written, `""` for a derived key.
    template: &'static str,
    pub(crate) stale_if_error: Option<Duration>,
    pub(crate) refresh_permille: u16,
    pub(crate) lock: Option<Duration>,
    /// `codec = "…"`; `None`: the process's.
    pub(crate) codec: Option<Codec>,
    pub(crate) compression: Compression,
}

impl Spec {
    /// `probe` names a function nested in the function that holds this spec; `name` is the
    /// cached function's name.
    pub const fn new(
        probe: fn() -> &'static str,
        name: &'static str,
        ttl: Ttl,
        version: u32,
        require_tenant: bool,
        template: &'static str,
    ) -> Self {
        Self {
            probe,
            name,
            ttl,
            version,
            require_tenant,
            template,
            stale_if_error: None,
            refresh_permille: 0,
            lock: None,
            codec: None,
            compression: Compression::Default,
        }
    }

    /// `stale_if_error = "…"`: keep a copy for TTL + `window` and serve it when the function fails.
    pub const fn stale_if_error(mut self, window_ms: u64) -> Self {
        self.stale_if_error = Some(Duration::from_millis(window_ms));
        self
    }

    /// `refresh_ahead = 0.8`: recompute in the background once this share of the TTL has passed.
    pub const fn refresh_ahead(mut self, permille: u16) -> Self {
        self.refresh_permille = permille;
        self
    }

    /// `lock = "5s"`: one computation across processes, under a lease of this length.
    pub const fn lock(mut self, lease_ms: u64) -> Self {
        self.lock = Some(Duration::from_millis(lease_ms));
        self
    }

    /// `codec = "msgpack"`: this codec instead of the process's (see `__private::codec`).
    pub const fn codec(mut self, codec: Codec) -> Self {
        self.codec = Some(codec);
        self
    }

    /// `compress_above = "4kb"`: compress encodings longer than `bytes`, whatever the process's
    /// threshold (see `__private::compression`).
    pub const fn compress_above(mut self, bytes: usize) -> Self {
        self.compression = Compression::Above(bytes);
        self
    }

    /// `compress_above = false`: never compress, whatever the process's threshold.
    pub const fn uncompressed(mut self) -> Self {
        self.compression = Compression::Off;
        self
    }

    /// Whether `template` is this function's key template, byte for byte: a compile-time check
    /// of `#[cache_put(function = …, key = "…")]`.
    pub const fn has_template(&self, template: &str) -> bool {
        let (a, b) = (self.template.as_bytes(), template.as_bytes());
        if a.len() != b.len() {
            return false;
        }
        let mut i = 0;
        while i < a.len() {
            if a[i] != b[i] {
                return false;
            }
            i += 1;
        }
        true
    }
}

/// Where a cached function is: its path (`my_crate::module::Type<_>::name`) and that path as key
/// text (`crate.module.Type%3C_%3E.name`), computed once per site.
pub(crate) struct Identity {
    pub(crate) path: String,
    pub(crate) text: String,
    /// The lines of this function and its policy in Redis generation keys.
    pub(crate) fields: key::GenFields,
}

impl Identity {
    fn of(spec: &Spec) -> Self {
        let probe = (spec.probe)();
        let mut segments = key::split_path(probe);
        // The probe itself, the body of an `async fn` it sits in, and the function holding it
        // (the cached function, its companion or its spec).
        segments.pop();
        while segments
            .last()
            .is_some_and(|segment| segment.starts_with("{{"))
        {
            segments.pop();
        }
        segments.pop();
        let mut path: String = segments.join("::");
        if !path.is_empty() {
            path.push_str("::");
        }
        path.push_str(spec.name);
        let text = key::function_text(&path);
        let policy = match spec.ttl {
            Ttl::Policy(policy) => Some(key::function_text(policy.path())),
            Ttl::Fixed(_) => None,
        };
        let fields = key::GenFields::new(&text, policy.as_deref());
        Self { path, text, fields }
    }
}

/// The next [`Site::index`] to hand out.
static NEXT_INDEX: AtomicU32 = AtomicU32::new(0);

/// One `#[cached]` function: a `static` in its expansion.
pub struct Site {
    pub(crate) spec: Spec,
    identity: OnceLock<Identity>,
    /// This site's slot in every engine's counters (`engine::counters`), handed out on first use.
    index: OnceLock<u32>,
    warned_no_tenant: AtomicBool,
    warned_oversized: AtomicBool,
    warned_unencodable: AtomicBool,
    warned_reentered: AtomicBool,
    warned_generic_result: AtomicBool,
}

impl Site {
    /// The site of the function `spec` describes.
    pub const fn new(spec: Spec) -> Self {
        Self {
            spec,
            identity: OnceLock::new(),
            index: OnceLock::new(),
            warned_no_tenant: AtomicBool::new(false),
            warned_oversized: AtomicBool::new(false),
            warned_unencodable: AtomicBool::new(false),
            warned_reentered: AtomicBool::new(false),
            warned_generic_result: AtomicBool::new(false),
        }
    }

    pub(crate) fn identity(&'static self) -> &'static Identity {
        self.identity.get_or_init(|| Identity::of(&self.spec))
    }

    /// A number of its own among the sites of this process, dense from 0: where engines keep
    /// this site's counters. One load once handed out.
    #[inline]
    pub(crate) fn index(&self) -> u32 {
        *self
            .index
            .get_or_init(|| NEXT_INDEX.fetch_add(1, Ordering::Relaxed))
    }

    /// The function's path, for logs.
    pub(crate) fn path(&'static self) -> &'static str {
        &self.identity().path
    }

    /// The policy's identity, when the TTL comes from a policy.
    pub(crate) fn policy_path(&self) -> Option<&'static str> {
        match self.spec.ttl {
            Ttl::Policy(policy) => Some(policy.path()),
            Ttl::Fixed(_) => None,
        }
    }

    /// The label of this site's counters: its policy's name, or its path for a literal TTL.
    pub(crate) fn label(&'static self) -> &'static str {
        match self.spec.ttl {
            Ttl::Policy(policy) => policy.name(),
            Ttl::Fixed(_) => self.path(),
        }
    }

    pub(crate) fn first_oversized(&self) -> bool {
        !self.warned_oversized.swap(true, Ordering::Relaxed)
    }

    pub(crate) fn first_unencodable(&self) -> bool {
        !self.warned_unencodable.swap(true, Ordering::Relaxed)
    }

    pub(crate) fn first_generic_result(&self) -> bool {
        !self.warned_generic_result.swap(true, Ordering::Relaxed)
    }

    pub(crate) fn first_reentered(&self) -> bool {
        !self.warned_reentered.swap(true, Ordering::Relaxed)
    }

    pub(crate) fn first_without_tenant(&self) -> bool {
        !self.warned_no_tenant.swap(true, Ordering::Relaxed)
    }
}

/// What `#[cache_evict]` deletes, besides the tags written into its `Call`.
pub struct Eviction {
    /// The entry of the call's key.
    pub key: bool,
    /// Every entry of this `#[cached]` function, every tenant.
    pub function: Option<&'static Site>,
    /// Every entry of the call's tenant.
    pub tenant_entries: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probe() -> &'static str {
        "svc::quotes::Svc<alloc::string::String>::load::{{closure}}::__cache_probe"
    }

    #[test]
    fn the_identity_is_the_probes_enclosing_path_and_the_name() {
        let spec = Spec::new(
            probe,
            "load",
            Ttl::Fixed(Duration::from_secs(1)),
            0,
            false,
            "",
        );
        let identity = Identity::of(&spec);
        assert_eq!(
            identity.path,
            "svc::quotes::Svc<alloc::string::String>::load"
        );
        assert_eq!(
            identity.text,
            "svc.quotes.Svc%3Calloc%3A%3Astring%3A%3AString%3E.load"
        );
    }

    #[test]
    fn templates_compare_byte_for_byte() {
        let spec = Spec::new(
            probe,
            "load",
            Ttl::Fixed(Duration::from_secs(1)),
            0,
            false,
            "q:{a}",
        );
        assert!(spec.has_template("q:{a}"));
        assert!(!spec.has_template("q:{b}"));
        assert!(!spec.has_template("q:{a}:"));
    }
}
