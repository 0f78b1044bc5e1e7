//! What a bad setting reports, and where a setting came from.

use std::fmt;

/// A setting that cannot be used. Its message names the variable (or builder method) and says
/// what a valid value looks like.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConfigError {
    setting: String,
    message: String,
}

impl ConfigError {
    pub(super) fn new(setting: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            setting: setting.into(),
            message: message.into(),
        }
    }

    /// The environment variable or builder method at fault, e.g. `REDIS_URL`.
    pub fn setting(&self) -> &str {
        &self.setting
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.setting, self.message)
    }
}

impl std::error::Error for ConfigError {}

/// A value with the name of where it came from, for error messages.
#[derive(Debug, Clone)]
pub(super) struct Setting<T> {
    pub(super) value: T,
    pub(super) origin: &'static str,
}
