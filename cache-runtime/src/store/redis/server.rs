//! What the Redis store knows about the server behind its connection: its version (checked on
//! each new connection, since index maintenance needs Redis 7.0's `PEXPIRE … NX`/`GT`), and what
//! is wrong when the server refuses the connection itself (a password it requires, a database it
//! does not have). Both are in `stats().store`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use redis::{ErrorKind, RedisError};

/// The oldest Redis the store writes to: `PEXPIRE … NX` and `GT` came with 7.0.
pub(super) const MIN_VERSION: (u32, u32) = (7, 0);

/// A server the store will not write to, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refusal(pub(crate) String);

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// `redis_version` from the text of `INFO server`.
pub(super) fn parse_version(info: &str) -> Option<&str> {
    info.lines()
        .find_map(|line| line.strip_prefix("redis_version:"))
        .map(str::trim)
}

/// Whether the store can write to a server of `version`; `None` when it cannot tell (an odd
/// version string), which does not stop caching.
pub(super) fn refusal(version: &str) -> Option<Refusal> {
    let mut numbers = version.split('.').map(|n| n.parse::<u32>());
    let (Some(Ok(major)), Some(Ok(minor))) = (numbers.next(), numbers.next()) else {
        return None;
    };
    ((major, minor) < MIN_VERSION).then(|| {
        Refusal(format!(
            "Redis {version} is older than {}.{}, which index maintenance needs (PEXPIRE NX/GT): caching is off until the server is upgraded",
            MIN_VERSION.0, MIN_VERSION.1
        ))
    })
}

/// What is wrong when `error` is the server refusing the connection itself rather than one
/// command: credentials it does not accept, or a database it does not have. Such a connection
/// never heals by itself, so the store treats it as an outage and rebuilds it on each probe.
pub(super) fn connection_problem(error: &RedisError, db: i64) -> Option<String> {
    let text = error.to_string();
    if error.kind() == ErrorKind::AuthenticationFailed
        || matches!(error.code(), Some("NOAUTH" | "WRONGPASS"))
        || text.contains("NOAUTH")
        || text.contains("WRONGPASS")
    {
        return Some(
            "authentication failed: the server wants a password (or user) that REDIS_URL does not give"
                .to_owned(),
        );
    }
    if text.contains("refused to switch database") || text.contains("DB index is out of range") {
        return Some(format!(
            "database {db} does not exist on the server (SELECT {db} failed): fix the number in REDIS_URL or the server's `databases`"
        ));
    }
    None
}

/// The server's version and problems, as last seen.
#[derive(Debug, Default)]
pub(super) struct ServerState {
    /// Whether this connection's server version was read.
    checked: AtomicBool,
    seen: Mutex<Seen>,
}

#[derive(Debug, Default)]
struct Seen {
    version: Option<String>,
    refusal: Option<Refusal>,
    /// When a refused server's version is read again (it may have been upgraded).
    recheck_at: Option<Instant>,
    problem: Option<String>,
}

impl ServerState {
    fn seen(&self) -> MutexGuard<'_, Seen> {
        self.seen
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A new connection: its server's version is read again on its first operation.
    pub(super) fn reconnected(&self) {
        self.checked.store(false, Ordering::Release);
    }

    /// Whether the next operation should read the server's version first.
    pub(super) fn needs_check(&self) -> bool {
        !self.checked.load(Ordering::Acquire)
    }

    /// The refusal in force, unless it is time to read the version again.
    pub(super) fn refused(&self) -> Option<Refusal> {
        let mut seen = self.seen();
        let refusal = seen.refusal.clone()?;
        if seen.recheck_at.is_some_and(|at| Instant::now() >= at) {
            seen.recheck_at = None;
            self.checked.store(false, Ordering::Release);
            return None;
        }
        Some(refusal)
    }

    /// Records the server's answer to `INFO server`; a refusal if it is too old to write to.
    /// `recheck` is how long a refused server is left alone before its version is read again.
    pub(super) fn record_info(&self, info: &str, recheck: Duration) -> Result<(), Refusal> {
        self.checked.store(true, Ordering::Release);
        let version = parse_version(info).map(str::to_owned);
        let refusal = version.as_deref().and_then(refusal);
        let mut seen = self.seen();
        match (&refusal, &seen.refusal) {
            (Some(refusal), None) => tracing::error!("cache: {refusal}"),
            (None, Some(_)) => {
                tracing::info!(version = ?version, "cache: the Redis server is recent enough now; caching resumes")
            }
            _ => {}
        }
        seen.version = version;
        seen.refusal = refusal.clone();
        seen.recheck_at = refusal.is_some().then(|| Instant::now() + recheck);
        refusal.map_or(Ok(()), Err)
    }

    /// A server whose `INFO` cannot be read (a proxy, an ACL without it): assume it is fine.
    pub(super) fn version_unknown(&self) {
        self.checked.store(true, Ordering::Release);
    }

    /// Records what is wrong with the connection.
    pub(super) fn problem(&self, problem: String) {
        self.seen().problem = Some(problem);
    }

    /// The server answered a command: whatever was wrong with the connection is not any more.
    pub(super) fn healthy(&self) {
        let mut seen = self.seen();
        if seen.problem.is_some() {
            seen.problem = None;
        }
    }

    pub(super) fn version(&self) -> Option<String> {
        self.seen().version.clone()
    }

    pub(super) fn current_refusal(&self) -> Option<String> {
        self.seen()
            .refusal
            .as_ref()
            .map(|refusal| refusal.0.clone())
    }

    pub(super) fn current_problem(&self) -> Option<String> {
        self.seen().problem.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const INFO_6: &str = "# Server\r\nredis_version:6.2.14\r\nredis_git_sha1:00000000\r\n";
    const INFO_7: &str = "# Server\r\nredis_version:7.0.15\r\nredis_mode:standalone\r\n";

    #[test]
    fn the_version_is_read_from_info_server() {
        assert_eq!(parse_version(INFO_6), Some("6.2.14"));
        assert_eq!(parse_version(INFO_7), Some("7.0.15"));
        assert_eq!(parse_version("# Server\r\nos:Linux\r\n"), None);
    }

    #[test]
    fn servers_older_than_7_are_refused_and_odd_versions_are_not() {
        for old in ["6.2.14", "6.0.0", "5.0.7", "2.8.24"] {
            let refusal = refusal(old).unwrap_or_else(|| panic!("{old} is refused"));
            assert!(refusal.0.contains(old), "{refusal}");
            assert!(refusal.0.contains("7.0"), "{refusal}");
        }
        for new in ["7.0.0", "7.0.15", "7.2.4", "8.0.1", "10.1"] {
            assert_eq!(refusal(new), None, "{new}");
        }
        for odd in ["", "unknown", "7", "x.y"] {
            assert_eq!(refusal(odd), None, "{odd:?}");
        }
    }

    #[test]
    fn a_refused_server_is_read_again_after_the_recheck_interval() {
        let state = ServerState::default();
        assert!(state.needs_check());
        let recheck = Duration::from_millis(30);
        assert!(state.record_info(INFO_6, recheck).is_err());
        assert_eq!(state.version().as_deref(), Some("6.2.14"));
        assert!(!state.needs_check());
        assert!(state.refused().is_some(), "refused until the recheck");
        std::thread::sleep(recheck + Duration::from_millis(10));
        assert_eq!(
            state.refused(),
            None,
            "one operation reads the version again"
        );
        assert!(state.needs_check());
        assert_eq!(state.record_info(INFO_7, recheck), Ok(()));
        assert_eq!(state.refused(), None);
        assert_eq!(state.current_refusal(), None);
    }

    #[test]
    fn refused_connections_are_named() {
        let select: RedisError = (
            ErrorKind::Server(redis::ServerErrorKind::ResponseError),
            "Redis server refused to switch database",
            "ERR DB index is out of range".to_owned(),
        )
            .into();
        let problem = connection_problem(&select, 20).unwrap();
        assert!(problem.contains("database 20 does not exist"), "{problem}");
        let auth: RedisError = (
            ErrorKind::AuthenticationFailed,
            "Password authentication failed",
        )
            .into();
        let problem = connection_problem(&auth, 0).unwrap();
        assert!(problem.starts_with("authentication failed"), "{problem}");
        let oom: RedisError = (
            ErrorKind::Server(redis::ServerErrorKind::ResponseError),
            "OOM",
            "command not allowed when used memory > 'maxmemory'".to_owned(),
        )
            .into();
        assert_eq!(
            connection_problem(&oom, 0),
            None,
            "a refused command is not a refused connection"
        );
    }
}
