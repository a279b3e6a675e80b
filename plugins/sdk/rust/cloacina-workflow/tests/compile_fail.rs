//! Macro misuse must fail to compile with a message that says what to fix.
//! The expected messages are the committed `tests/ui/*.stderr` files;
//! regenerate them with `TRYBUILD=overwrite cargo test -p cloacina-workflow --test compile_fail`
//! and review the diff.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
}
