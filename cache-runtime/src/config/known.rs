//! Which variables are ours, and what to say about a `CACHE_*` or `REDIS_*` variable that is not:
//! a misspelt setting would otherwise be ignored without a word.

/// Variables read by [`super::CacheBuilder::from_env`], besides `CACHE_TTL_<POLICY>`.
pub(super) const VARIABLES: &[&str] = &[
    "REDIS_URL",
    "REDIS_CLUSTER_NODES",
    "REDIS_CONNECTION_TIMEOUT",
    "REDIS_HEALTH_CHECK_INTERVAL",
    "REDIS_MAX_CONNECTIONS",
    "REDIS_MIN_IDLE",
    "REDIS_MAX_LIFETIME",
    "REDIS_IDLE_TIMEOUT",
    "CACHE_ENABLED",
    "CACHE_PREFIX",
    "CACHE_OPERATION_TIMEOUT_MS",
    "CACHE_WRITE_TIMEOUT_MS",
    "CACHE_CONNECT_TIMEOUT_MS",
    "CACHE_BREAKER_THRESHOLD",
    "CACHE_BREAKER_COOL_DOWN_MS",
    "CACHE_MAX_VALUE_BYTES",
    "CACHE_MEMORY_MAX_BYTES",
    "CACHE_LOCAL_TTL_MS",
    "CACHE_MAX_KEY_BYTES",
    "CACHE_TLS_CA_FILE",
    "CACHE_TLS_CERT_FILE",
    "CACHE_TLS_KEY_FILE",
    "CACHE_ALLOW_FLUSH",
    "CACHE_CODEC",
    "CACHE_COMPRESS_ABOVE",
];

/// The prefix of per-policy TTL overrides.
pub(super) const TTL_PREFIX: &str = "CACHE_TTL_";

/// Whether the runtime reads the variable `name`.
pub(super) fn is_ours(name: &str) -> bool {
    VARIABLES.contains(&name) || (name.starts_with(TTL_PREFIX) && name.len() > TTL_PREFIX.len())
}

/// Whether `name` looks meant for the runtime: it starts with `CACHE_` or `REDIS_`.
fn looks_ours(name: &str) -> bool {
    name.starts_with("CACHE_") || name.starts_with("REDIS_")
}

/// The warning for `name`, if it looks like one of ours but is not: it names the closest
/// variable the runtime knows.
pub(super) fn unknown_variable(name: &str) -> Option<String> {
    if !looks_ours(name) || is_ours(name) {
        return None;
    }
    let closest = if name.starts_with("CACHE_TTL") {
        "CACHE_TTL_<POLICY>"
    } else {
        VARIABLES
            .iter()
            .copied()
            .chain(std::iter::once("CACHE_TTL_<POLICY>"))
            .min_by_key(|known| levenshtein(name, known))
            .unwrap_or("REDIS_URL")
    };
    Some(format!(
        "{name} is not a setting of cache-runtime and is ignored; the closest one is {closest}"
    ))
}

/// The edit distance between `a` and `b` (insertions, deletions, substitutions), by bytes:
/// the names compared are ASCII.
fn levenshtein(a: &str, b: &str) -> usize {
    let b = b.as_bytes();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    let mut current = vec![0; b.len() + 1];
    for (i, &x) in a.as_bytes().iter().enumerate() {
        current[0] = i + 1;
        for (j, &y) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(x != y);
            current[j + 1] = substitution.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        std::mem::swap(&mut previous, &mut current);
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances() {
        assert_eq!(levenshtein("", "abc"), 3);
        assert_eq!(levenshtein("kitten", "sitting"), 3);
        assert_eq!(levenshtein("REDIS_URL", "REDIS_URL"), 0);
    }

    #[test]
    fn misspelt_variables_name_the_closest_known_one() {
        let warning = unknown_variable("CACHE_PREFX").unwrap();
        assert!(warning.contains("closest one is CACHE_PREFIX"), "{warning}");
        let warning = unknown_variable("REDIS_URI").unwrap();
        assert!(warning.contains("closest one is REDIS_URL"), "{warning}");
        let warning = unknown_variable("CACHE_OPERATION_TIMEOUT").unwrap();
        assert!(warning.contains("CACHE_OPERATION_TIMEOUT_MS"), "{warning}");
        let warning = unknown_variable("CACHE_TTL_").unwrap();
        assert!(warning.contains("CACHE_TTL_<POLICY>"), "{warning}");
    }

    #[test]
    fn ours_and_others_are_not_warned_about() {
        for name in [
            "REDIS_URL",
            "CACHE_TTL_COIN_DATA",
            "PATH",
            "RUST_LOG",
            "MY_CACHE_X",
        ] {
            assert_eq!(unknown_variable(name), None, "{name}");
        }
    }
}
