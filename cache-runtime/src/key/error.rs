//! Why an argument could not become part of a key.

use std::fmt;

use serde::ser;

/// Why an argument could not become part of a key.
#[derive(Debug)]
pub(crate) enum KeyError {
    /// Internal signal: the value is not a scalar and is written as JSON instead.
    Compound,
    /// The value's `Serialize` implementation failed.
    Custom(String),
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyError::Compound => f.write_str("compound value"),
            KeyError::Custom(message) => f.write_str(message),
        }
    }
}

impl std::error::Error for KeyError {}

impl ser::Error for KeyError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        KeyError::Custom(msg.to_string())
    }
}
