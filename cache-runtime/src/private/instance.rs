//! The instance of a generic function in a derived key: `Svc::<u8>::load` and
//! `Svc::<u64>::load` share an identity (`app::Svc<_>::load`, from a nested function, which
//! cannot see the impl's parameters), so their derived keys also hold the instantiated path,
//! read from the type name of a closure in the function, which carries every generic argument:
//! the impl's, the function's, and those of its `impl Trait` arguments.

/// The instantiated path to write into the key, `None` when it adds nothing to `identity`.
///
/// `closure` is `type_name_of_val` of a closure in the cached function (or in its companion):
/// `app::Svc<u8>::load::{{closure}}::{{closure}}`, `app::load_cache<u32>::{{closure}}`.
/// `identity` is the function's path, `app::Svc<_>::load`. The result names the function
/// itself, whichever of the two the closure sits in: `app::Svc<u8>::load`.
pub(super) fn instance_path(closure: &str, identity: &str) -> Option<String> {
    let mut holder = closure;
    while let Some(outer) = holder.strip_suffix("::{{closure}}") {
        holder = outer;
    }
    let (prefix, last) = split_last(holder);
    let arguments = last.find('<').map_or("", |start| &last[start..]);
    let (identity_prefix, name) = split_last(identity);
    if prefix == identity_prefix && arguments.is_empty() {
        return None;
    }
    let mut path = String::with_capacity(prefix.len() + name.len() + arguments.len() + 2);
    if !prefix.is_empty() {
        path.push_str(prefix);
        path.push_str("::");
    }
    path.push_str(name);
    path.push_str(arguments);
    Some(path)
}

/// `a::B<c::D>::e<f::G>` -> (`a::B<c::D>`, `e<f::G>`): the last `::` outside angle brackets
/// (the `>` of a `->` in a function pointer type closes nothing).
fn split_last(path: &str) -> (&str, &str) {
    let bytes = path.as_bytes();
    let mut depth = 0usize;
    let mut i = bytes.len();
    while i > 0 {
        i -= 1;
        match bytes[i] {
            b'>' if i == 0 || bytes[i - 1] != b'-' => depth += 1,
            b'<' => depth = depth.saturating_sub(1),
            b':' if depth == 0 && i > 0 && bytes[i - 1] == b':' => {
                return (&path[..i - 1], &path[i + 1..]);
            }
            _ => {}
        }
    }
    ("", path)
}

#[cfg(test)]
mod tests {
    use super::instance_path;

    #[test]
    fn a_function_outside_generics_adds_nothing() {
        let identity = "app::quotes::Users::load";
        let in_function = "app::quotes::Users::load::{{closure}}::{{closure}}";
        let in_companion = "app::quotes::Users::load_cache::{{closure}}";
        assert_eq!(instance_path(in_function, identity), None);
        assert_eq!(instance_path(in_companion, identity), None);
        let nested = "app::outer::{{closure}}::helper";
        assert_eq!(
            instance_path(
                "app::outer::{{closure}}::helper::{{closure}}::{{closure}}",
                nested
            ),
            None
        );
        assert_eq!(instance_path("load::{{closure}}", "load"), None);
    }

    #[test]
    fn the_instance_names_the_function_with_every_generic_argument() {
        let identity = "app::Svc<_>::load";
        for closure in [
            "app::Svc<u8>::load::{{closure}}::{{closure}}",
            "app::Svc<u8>::load_cache::{{closure}}",
        ] {
            assert_eq!(
                instance_path(closure, identity).as_deref(),
                Some("app::Svc<u8>::load")
            );
        }
        assert_eq!(
            instance_path(
                "app::free<u8, 3, &str>::{{closure}}::{{closure}}",
                "app::free"
            )
            .as_deref(),
            Some("app::free<u8, 3, &str>")
        );
        assert_eq!(
            instance_path("app::free_cache<u8, 3, &str>::{{closure}}", "app::free").as_deref(),
            Some("app::free<u8, 3, &str>")
        );
        assert_eq!(
            instance_path(
                "<app::Svc<u16> as app::Rates>::rate::{{closure}}::{{closure}}",
                "<app::Svc<_> as app::Rates>::rate"
            )
            .as_deref(),
            Some("<app::Svc<u16> as app::Rates>::rate")
        );
        assert_eq!(
            instance_path("app::run<fn() -> u8>::{{closure}}", "app::run").as_deref(),
            Some("app::run<fn() -> u8>")
        );
    }
}
