//! [`Probe`]: the return type of a cached function, as a value the expansion can dispatch on.

use std::marker::PhantomData;

/// Carries the return type `R` to the dispatch.
pub struct Probe<R>(PhantomData<fn() -> R>);

impl<R> Probe<R> {
    /// A probe for `R`.
    pub const fn new() -> Self {
        Probe(PhantomData)
    }
}

impl<R> Default for Probe<R> {
    fn default() -> Self {
        Self::new()
    }
}
