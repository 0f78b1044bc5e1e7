//! Compile-time diagnostics of `#[cached]` and `#[derive(TtlPolicy)]`.
//!
//! `ui/fail/*.rs` must fail to compile with exactly the errors in their `.stderr` files;
//! `ui/pass/*.rs` must compile and run. Refresh the goldens with
//! `TRYBUILD=overwrite cargo test -p cache-tests --test ui` and read the diff before committing.

#[test]
fn ui() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("ui/fail/*.rs");
    cases.pass("ui/pass/*.rs");
}
