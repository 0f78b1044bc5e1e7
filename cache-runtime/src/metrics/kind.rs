//! Why a store operation failed: the `kind` label of `cache_errors_total`.

/// Why a store operation failed, as the `kind` label of `cache_errors_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ErrorKind {
    /// No answer within the operation timeout.
    Timeout,
    /// The breaker is open: the store was not asked.
    BreakerOpen,
    /// The store answered with an error, or the connection failed.
    Redis,
    /// The server answers, but the store will not use it.
    Refused,
}

impl ErrorKind {
    /// Every kind, in the order of [`ErrorKind::index`].
    #[cfg(feature = "metrics")]
    pub(crate) const ALL: [ErrorKind; 4] = [
        ErrorKind::Timeout,
        ErrorKind::BreakerOpen,
        ErrorKind::Redis,
        ErrorKind::Refused,
    ];

    /// The label value.
    #[cfg(feature = "metrics")]
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Timeout => "timeout",
            ErrorKind::BreakerOpen => "breaker_open",
            ErrorKind::Redis => "redis",
            ErrorKind::Refused => "refused",
        }
    }

    #[cfg(feature = "metrics")]
    pub(super) fn index(self) -> usize {
        self as usize
    }
}
