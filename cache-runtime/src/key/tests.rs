//! The key layout's names.

use super::*;

#[test]
fn index_names_keep_tenants_apart() {
    let layout = KeyLayout::new("v1".to_owned(), DEFAULT_KEY_BYTES);
    let mut builder = KeyBuilder::new(None);
    builder.text("quote:");
    builder.arg("7203").unwrap();
    builder.tag("ticker");
    builder.arg("7203").unwrap();
    let entry = layout.entry(builder, Some("acme"), 0);
    assert_eq!(entry.key, "v1:t=acme:quote:7203");
    assert_eq!(
        layout.indexes(
            &entry,
            "svc::quotes::quote",
            Some("svc::Policy::StockPrice")
        ),
        [
            "v1:idx:fn:svc.quotes.quote",
            "v1:idx:t=acme:all",
            "v1:idx:t=acme:fn:svc.quotes.quote",
            "v1:idx:policy:svc.Policy.StockPrice",
            "v1:idx:t=acme:policy:svc.Policy.StockPrice",
            "v1:idx:t=acme:tag:ticker:7203",
        ]
    );
}

#[test]
fn versions_stale_copies_and_leases_are_suffixes_of_the_entry() {
    let layout = KeyLayout::new("v1".to_owned(), DEFAULT_KEY_BYTES);
    let entry = layout.entry(KeyBuilder::new(None), None, 2);
    assert_eq!(entry.key, "v1:_:#v2");
    assert_eq!(stale_key(&entry.key), "v1:_:#v2#stale");
    assert_eq!(lock_key(&entry.key), "v1:_:#v2#lock");
}

#[test]
fn a_tenant_argument_wins_over_the_scope() {
    let layout = KeyLayout::new("v1".to_owned(), DEFAULT_KEY_BYTES);
    let mut builder = KeyBuilder::new(Some("a:b"));
    builder.text("quote:");
    builder.arg("7203").unwrap();
    assert!(builder.has_tenant());
    let entry = layout.entry(builder.clone(), Some("acme"), 0);
    assert_eq!(entry.key, "v1:t=a%3Ab:quote:7203");
    assert_eq!(entry.tenant_segment("v1"), "t=a%3Ab");
    let entry = layout.entry(KeyBuilder::new(None), Some("acme"), 0);
    assert_eq!(entry.tenant_segment("v1"), "t=acme");
}

#[test]
fn tenant_segments_cannot_collide_with_no_tenant() {
    let layout = KeyLayout::new("v1".to_owned(), DEFAULT_KEY_BYTES);
    assert_eq!(layout.tenant_entries(None), "v1:_:");
    assert_eq!(layout.tenant_entries(Some("_")), "v1:t=_:");
    assert_eq!(layout.tenant_entries(Some("")), "v1:t=:");
    assert_eq!(layout.tenant_entries(Some("a:b*")), "v1:t=a%3Ab%2A:");
}

#[test]
fn identities_become_escaped_dotted_text() {
    assert_eq!(function_text("svc::Svc<_>::load"), "svc.Svc%3C_%3E.load");
}

#[test]
fn long_names_are_shortened_alike_where_they_are_written_and_where_they_are_deleted() {
    let layout = KeyLayout::new("v1".to_owned(), 256);
    let tenant = "é".repeat(500);
    let value = "v".repeat(10_000);
    let mut builder = KeyBuilder::new(None);
    builder.text("q:");
    builder.arg(value.as_str()).unwrap();
    builder.tag("ticker");
    builder.arg(value.as_str()).unwrap();
    let entry = layout.entry(builder, Some(&tenant), 3);
    assert!(entry.key.len() <= 256, "{}", entry.key);
    assert!(entry.key.starts_with(&layout.tenant_entries(Some(&tenant))));
    let sets = layout.indexes(&entry, "svc::q", None);
    assert!(sets.iter().all(|set| set.len() <= 256), "{sets:?}");
    assert!(sets.contains(&layout.tag_index(Some(&tenant), &Tag::new("ticker").with(&value))));
    assert!(sets.contains(&layout.tenant_all_index(Some(&tenant))));
    assert!(sets
        .iter()
        .filter(|set| set.contains(":t="))
        .all(|set| set.starts_with(&layout.tenant_indexes(Some(&tenant)))));
    assert_eq!(layout.shortened_writes(), 1);
}

#[test]
fn marks_live_in_the_bookkeeping_namespace_and_name_what_they_guard() {
    let layout = KeyLayout::new("v1".to_owned(), DEFAULT_KEY_BYTES);
    let mut key = KeyBuilder::new(None);
    key.text("all");
    let entry = layout.entry(key, Some("acme"), 0);
    let sets = layout.indexes(&entry, "svc::quote", None);
    assert_eq!(
        layout.write_marks(&entry, &sets[..2]),
        [
            "v1:idx:t=acme:all#inv",
            "v1:idx:fn:svc.quote#inv",
            "v1:idx:t=acme:all#inv",
            "v1:idx:purged:633c22f13bd4b82766d2d7225ce994a43cac331c23db9b5b976923d3c2dfc577",
            "v1:idx:#inv",
        ]
    );
    // A tenant's marks are under its index prefix, which `purge_tenant` deletes; the purge's own
    // mark does not spell the tenant.
    let tenant_indexes = layout.tenant_indexes(Some("acme"));
    assert!(layout.mark(&entry.key).starts_with(&tenant_indexes));
    assert!(layout.mark(&sets[1]).starts_with(&tenant_indexes));
    assert!(!layout
        .mark(&layout.tenant_entries(Some("acme")))
        .contains("acme"));
}
