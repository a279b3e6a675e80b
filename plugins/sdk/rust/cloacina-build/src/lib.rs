//! `build.rs` helper for cloacina plugin crates:
//!
//! ```ignore
//! fn main() {
//!     cloacina_build::configure();
//! }
//! ```
//!
//! What it does, and all it does:
//! * on ELF targets (Linux, Android, FreeBSD), passes the cdylib link argument
//!   `-z start-stop-visibility=hidden`: the SDK collects declarations in
//!   linker sections (linkme), and without it the linker would also export
//!   the sections' `__start_*`/`__stop_*` symbols, so the library would export
//!   more than `cloacina_plugin_entry` (and two plugins could bind to each
//!   other's symbols). `plugins/rust-ci.sh` checks the exported symbols;
//! * refuses to build when `RUSTFLAGS` carry `-C panic=abort` (the profile's
//!   `panic = "abort"` is refused at compile time by `package!()`): the SDK
//!   turns panics into `CLOACINA_STATUS_PANIC` with `catch_unwind`, which
//!   needs unwinding; with abort one panic would kill the whole host;
//! * warns when `package.toml` names a different package name or version than
//!   `Cargo.toml` (the host takes the identity from `package.toml`);
//! * tells cargo to rerun the build script only when `build.rs` or
//!   `package.toml` change.

use std::path::{Path, PathBuf};

/// Configures the build of a cloacina plugin crate. Call it from `build.rs`.
pub fn configure() {
    let manifest_dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    println!("cargo:rerun-if-changed=build.rs");
    let target_os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if matches!(target_os.as_str(), "linux" | "android" | "freebsd") {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-z,start-stop-visibility=hidden");
    }
    let package_toml = manifest_dir.join("package.toml");
    if package_toml.exists() {
        println!("cargo:rerun-if-changed=package.toml");
    }
    if let Err(message) = check_panic_strategy(std::env::var("CARGO_CFG_PANIC").ok().as_deref()) {
        panic!("{message}");
    }
    for warning in identity_warnings(
        &package_toml,
        &std::env::var("CARGO_PKG_NAME").unwrap_or_default(),
        &std::env::var("CARGO_PKG_VERSION").unwrap_or_default(),
    ) {
        println!("cargo:warning={warning}");
    }
}

/// `Err` with the fix when the crate is built with `panic = "abort"`.
pub fn check_panic_strategy(panic: Option<&str>) -> Result<(), String> {
    match panic {
        Some("abort") => Err(
            "cloacina plugins must be built with panic = \"unwind\": set `panic = \"unwind\"` under \
             [profile.release] and [profile.dev] in the workspace's Cargo.toml (and drop \
             `-C panic=abort` from RUSTFLAGS). With abort, a panic in a node would kill the host."
                .to_string(),
        ),
        _ => Ok(()),
    }
}

/// The `[package]` `name` and `version` strings of a `package.toml`.
/// Only `key = "basic string"` lines are read; that is all the identity needs.
pub fn read_identity(text: &str) -> (Option<String>, Option<String>) {
    let mut in_package = false;
    let (mut name, mut version) = (None, None);
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_package = line == "[package]";
            continue;
        }
        if !in_package {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let value = value.trim();
        let Some(value) = value
            .strip_prefix('"')
            .and_then(|v| v.split_once('"'))
            .map(|(v, _)| v.to_string())
        else {
            continue;
        };
        match key.trim() {
            "name" => name = Some(value),
            "version" => version = Some(value),
            _ => {}
        }
    }
    (name, version)
}

fn identity_warnings(package_toml: &Path, cargo_name: &str, cargo_version: &str) -> Vec<String> {
    let Ok(text) = std::fs::read_to_string(package_toml) else {
        return Vec::new();
    };
    let (name, version) = read_identity(&text);
    let mut warnings = Vec::new();
    if let Some(name) = name.filter(|n| n != cargo_name) {
        warnings.push(format!(
            "package.toml names package `{name}` but Cargo.toml `{cargo_name}`; the library reports `{cargo_name}` and the host uses `{name}` from package.toml"
        ));
    }
    if let Some(version) = version.filter(|v| v != cargo_version) {
        warnings.push(format!(
            "package.toml says version {version} but Cargo.toml {cargo_version}; the host uses {version} from package.toml"
        ));
    }
    warnings
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panic_abort_is_refused_with_the_fix() {
        assert!(check_panic_strategy(Some("unwind")).is_ok());
        assert!(check_panic_strategy(None).is_ok());
        let err = check_panic_strategy(Some("abort")).unwrap_err();
        assert!(err.contains("panic = \"unwind\""), "{err}");
    }

    #[test]
    fn reads_the_tutorial_package_toml() {
        let text = "[package]\nname = \"pricing-publisher\"\nversion = \"0.1.0\"\ndescription = \"Publishes a normalized price stream\"\n\n[other]\nname = \"x\"\n";
        assert_eq!(
            read_identity(text),
            (Some("pricing-publisher".into()), Some("0.1.0".into()))
        );
        assert_eq!(read_identity("name = \"outside\""), (None, None));
    }

    #[test]
    fn mismatch_warns() {
        let dir = std::env::temp_dir().join(format!("cloacina-build-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("package.toml");
        std::fs::write(&file, "[package]\nname = \"a\"\nversion = \"1.0.0\"\n").unwrap();
        assert!(identity_warnings(&file, "a", "1.0.0").is_empty());
        let w = identity_warnings(&file, "b", "2.0.0");
        assert_eq!(w.len(), 2, "{w:?}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
