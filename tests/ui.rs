//! Compile-time guarantees: every wiring mistake is a compile error whose message names the
//! fix, and every supported form compiles. One mistake per file under
//! `tests/ui/<macro>/fail/`, the expected compiler output beside it; re-bless with
//! `TRYBUILD=overwrite cargo test --test ui` and read the diff.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("tests/ui/*/pass/*.rs");
    t.compile_fail("tests/ui/*/fail/*.rs");
}
