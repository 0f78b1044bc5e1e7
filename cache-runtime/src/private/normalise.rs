//! Normalisers of key placeholders: `{currency:lower}` writes `lower(&currency)` into the key,
//! so that `EUR` and `eur` are one entry. Applied to the text before it is escaped.

/// A value a placeholder's normaliser can apply to: text.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be normalised as text",
    label = "`:lower`, `:upper` and `:trim` apply to this argument",
    note = "a normalised placeholder's argument must implement `AsRef<str>`, like `&str` or `String`; remove the normaliser for other values"
)]
pub trait Normalisable: AsRef<str> {}

impl<T: AsRef<str> + ?Sized> Normalisable for T {}

/// `{name:lower}`: Unicode lower case.
pub fn lower<T: Normalisable + ?Sized>(text: &T) -> String {
    text.as_ref().to_lowercase()
}

/// `{name:upper}`: Unicode upper case.
pub fn upper<T: Normalisable + ?Sized>(text: &T) -> String {
    text.as_ref().to_uppercase()
}

/// `{name:trim}`: without leading and trailing white space.
pub fn trim<T: Normalisable + ?Sized>(text: &T) -> String {
    text.as_ref().trim().to_owned()
}

#[cfg(test)]
mod tests {
    #[test]
    fn normalisers_make_spellings_one_text() {
        assert_eq!(super::lower("EUR"), super::lower(&"eur".to_owned()));
        assert_eq!(super::upper("eur"), "EUR");
        assert_eq!(super::trim(" eur\n"), "eur");
    }
}
