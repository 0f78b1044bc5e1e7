//! [`Tag`]: a tag as declared on `#[cached]`, built at run time for invalidation.

use super::part::{escape_into, write_part};

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
        escape_into(&mut rendered, name);
        Self { rendered }
    }

    /// Appends a value, rendered and escaped as in keys.
    pub fn with<A: serde::Serialize + ?Sized>(mut self, value: &A) -> Self {
        self.rendered.push(':');
        if write_part(&mut self.rendered, value).is_err() {
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
