//! The `#[repr(C)]` mirror must match `abi/cloacina_plugin.h` exactly.
//!
//! This test writes a C probe that prints the size and alignment of every
//! struct, the offset and size of every field and the value of every
//! constant, compiles it against the header with the system C compiler
//! (`$CC`, else `cc`), runs it and compares with the Rust mirror. A renamed
//! field fails to compile; a moved, resized or added field or a changed
//! constant fails the comparison.

use cloacina_workflow_plugin::abi::*;
use std::collections::BTreeMap;
use std::mem::{align_of, offset_of, size_of};
use std::path::PathBuf;
use std::process::Command;

fn field_size<T, F>(_: fn(&T) -> &F) -> usize {
    size_of::<F>()
}

macro_rules! layout {
    ($($ty:ident { $($field:ident $(as $rust:ident)?),* $(,)? })*) => {{
        let mut rust: BTreeMap<String, usize> = BTreeMap::new();
        let mut probe = String::new();
        $(
            rust.insert(format!("sizeof {}", stringify!($ty)), size_of::<$ty>());
            rust.insert(format!("alignof {}", stringify!($ty)), align_of::<$ty>());
            probe += &format!(
                "P(\"sizeof {0}\", sizeof({0}));\nP(\"alignof {0}\", _Alignof({0}));\n",
                stringify!($ty)
            );
            $(
                layout!(@field rust, probe, $ty, $field $(, $rust)?);
            )*
        )*
        (rust, probe)
    }};
    (@field $rust_map:ident, $probe:ident, $ty:ident, $field:ident) => {
        layout!(@field $rust_map, $probe, $ty, $field, $field)
    };
    (@field $rust_map:ident, $probe:ident, $ty:ident, $field:ident, $rust:ident) => {
        $rust_map.insert(
            format!("offsetof {}.{}", stringify!($ty), stringify!($field)),
            offset_of!($ty, $rust),
        );
        $rust_map.insert(
            format!("sizeof {}.{}", stringify!($ty), stringify!($field)),
            field_size(|s: &$ty| &s.$rust),
        );
        $probe += &format!(
            "P(\"offsetof {0}.{1}\", offsetof({0}, {1}));\nP(\"sizeof {0}.{1}\", sizeof(((const {0} *)0)->{1}));\n",
            stringify!($ty),
            stringify!($field)
        );
    };
}

fn header_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../../abi")
}

/// Compiles and runs `body` (statements using `P(name, value)`) against the header.
fn run_probe(name: &str, body: &str) -> BTreeMap<String, i64> {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("abi-probe-{name}"));
    std::fs::create_dir_all(&dir).unwrap();
    let source = dir.join("probe.c");
    let exe = dir.join("probe");
    let program = format!(
        "#include <stddef.h>\n#include <stdio.h>\n#include \"cloacina_plugin.h\"\n\
         #define P(name, value) printf(\"%s=%lld\\n\", name, (long long)(value))\n\
         int main(void) {{\n{body}return 0;\n}}\n"
    );
    std::fs::write(&source, program).unwrap();
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".to_string());
    let output = Command::new(&cc)
        .arg("-std=c11")
        .arg("-Wall")
        .arg("-Werror")
        .arg("-I")
        .arg(header_dir())
        .arg(&source)
        .arg("-o")
        .arg(&exe)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run the C compiler `{cc}` ({e}); the ABI layout test needs one (set CC)")
        });
    assert!(
        output.status.success(),
        "the C probe does not compile against {}/cloacina_plugin.h -- a field of the mirror is missing or renamed in the header:\n{}",
        header_dir().display(),
        String::from_utf8_lossy(&output.stderr)
    );
    let run = Command::new(&exe).output().unwrap();
    assert!(run.status.success());
    String::from_utf8(run.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let (k, v) = l.split_once('=').unwrap();
            (k.to_string(), v.parse().unwrap())
        })
        .collect()
}

#[test]
fn struct_layout_matches_the_header() {
    let (rust, probe) = cloacina_workflow_plugin::with_abi_structs!(layout);
    let c = run_probe("layout", &probe);
    let mut mismatches = Vec::new();
    for (key, rust_value) in &rust {
        let c_value = c[key];
        if c_value != *rust_value as i64 {
            mismatches.push(format!("{key}: header {c_value}, Rust mirror {rust_value}"));
        }
    }
    assert!(
        mismatches.is_empty(),
        "the Rust mirror drifted from the header:\n{}",
        mismatches.join("\n")
    );
    assert_eq!(rust.len(), c.len());
}

#[test]
fn constants_match_the_header() {
    let constants: &[(&str, i64)] = &[
        ("CLOACINA_ABI_VERSION", CLOACINA_ABI_VERSION as i64),
        ("CLOACINA_STATUS_OK", CLOACINA_STATUS_OK as i64),
        (
            "CLOACINA_STATUS_INVALID_INPUT",
            CLOACINA_STATUS_INVALID_INPUT as i64,
        ),
        (
            "CLOACINA_STATUS_PLUGIN_ERROR",
            CLOACINA_STATUS_PLUGIN_ERROR as i64,
        ),
        ("CLOACINA_STATUS_PANIC", CLOACINA_STATUS_PANIC as i64),
        (
            "CLOACINA_STATUS_UNSUPPORTED",
            CLOACINA_STATUS_UNSUPPORTED as i64,
        ),
        ("CLOACINA_STATUS_INTERNAL", CLOACINA_STATUS_INTERNAL as i64),
        (
            "CLOACINA_FLAG_THREAD_SAFE",
            CLOACINA_FLAG_THREAD_SAFE as i64,
        ),
        ("CLOACINA_ACC_PASSTHROUGH", CLOACINA_ACC_PASSTHROUGH as i64),
        ("CLOACINA_ACC_BATCH", CLOACINA_ACC_BATCH as i64),
        ("CLOACINA_ACC_STATE", CLOACINA_ACC_STATE as i64),
        ("CLOACINA_ACC_POLLING", CLOACINA_ACC_POLLING as i64),
        ("CLOACINA_ACC_STREAM", CLOACINA_ACC_STREAM as i64),
        ("CLOACINA_WHEN_ANY", CLOACINA_WHEN_ANY as i64),
        ("CLOACINA_WHEN_ALL", CLOACINA_WHEN_ALL as i64),
        ("CLOACINA_LATEST", CLOACINA_LATEST as i64),
        ("CLOACINA_SEQUENTIAL", CLOACINA_SEQUENTIAL as i64),
    ];
    let mut body: String = constants
        .iter()
        .map(|(name, _)| format!("P(\"{name}\", {name});\n"))
        .collect();
    for (i, b) in CLOACINA_MAGIC.iter().enumerate() {
        body += &format!("P(\"magic{i}\", CLOACINA_MAGIC[{i}]);\n");
        let _ = b;
    }
    body += "P(\"magic_len\", sizeof(CLOACINA_MAGIC) - 1);\n";
    let c = run_probe("constants", &body);
    for (name, value) in constants {
        assert_eq!(
            c[*name], *value,
            "{name}: header {} vs Rust {value}",
            c[*name]
        );
    }
    assert_eq!(c["magic_len"], 8);
    for (i, b) in CLOACINA_MAGIC.iter().enumerate() {
        assert_eq!(
            c[&format!("magic{i}")],
            *b as i64,
            "CLOACINA_MAGIC byte {i}"
        );
    }
    let symbol = run_probe("symbol", "printf(\"%s=0\\n\", CLOACINA_ENTRY_SYMBOL);\n");
    assert!(symbol.contains_key(CLOACINA_ENTRY_SYMBOL));
}

/// Every `#define CLOACINA_*` with a number in the header has a Rust twin
/// (so a constant added to the header cannot be forgotten here).
#[test]
fn every_numeric_header_constant_is_mirrored() {
    let header = std::fs::read_to_string(header_dir().join("cloacina_plugin.h")).unwrap();
    let mirror = include_str!("../src/abi.rs");
    let mut missing = Vec::new();
    for line in header.lines() {
        let mut words = line.split_whitespace();
        if words.next() != Some("#define") {
            continue;
        }
        let (Some(name), Some(value)) = (words.next(), words.next()) else {
            continue;
        };
        if value.parse::<i64>().is_ok() && !mirror.contains(&format!("pub const {name}:")) {
            missing.push(name.to_string());
        }
    }
    assert!(
        missing.is_empty(),
        "constants in the header but not in src/abi.rs: {missing:?}"
    );
}
