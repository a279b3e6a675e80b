#!/usr/bin/env bash
# Checks of the Rust SDK workspace (plugins/): format, lint, MSRV of the lock,
# tests (unit, ABI layout against the C header, trybuild compile-fail), the tests
# again with the MSRV toolchain (installed by rustup when missing), and that
# every example cdylib exports exactly one symbol. Called by `make test` / CI.
set -euo pipefail
cd "$(dirname "$0")"
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"

if ! command -v cargo >/dev/null 2>&1; then
    echo "rust-ci: cargo is not installed; install Rust with rustup (https://rustup.rs)" >&2
    exit 1
fi
step() { printf '\n== rust-ci: %s\n' "$*"; }

# The two tutorial crates keep the tutorial's own layout, so rustfmt skips them.
TUTORIAL=(pricing-publisher pricing-subscriber)
mapfile -t FORMATTED < <(cargo metadata --no-deps --format-version 1 --locked |
    python3 -c 'import json,sys; print("\n".join(p["name"] for p in json.load(sys.stdin)["packages"]))' |
    grep -vxF -f <(printf '%s\n' "${TUTORIAL[@]}"))

step "cargo fmt --check (${FORMATTED[*]})"
if cargo fmt --version >/dev/null 2>&1; then
    cargo fmt --check $(printf -- '-p %s ' "${FORMATTED[@]}")
else
    echo "rustfmt is not installed: skipping (rustup component add rustfmt)"
fi

step "cargo clippy -D warnings"
if cargo clippy --version >/dev/null 2>&1; then
    cargo clippy --workspace --all-targets --locked -- -D warnings
else
    echo "clippy is not installed: skipping (rustup component add clippy)"
fi

step "MSRV: every locked dependency supports the workspace rust-version"
cargo metadata --format-version 1 --locked | python3 -c '
import json, re, sys
meta = json.load(sys.stdin)
def v(s): return tuple(int(x) for x in re.findall(r"\d+", s)[:3]) + (0,) * (3 - len(re.findall(r"\d+", s)[:3]))
ws = {p["id"] for p in meta["packages"] if p["id"] in meta["workspace_members"]}
msrv = {p["rust_version"] for p in meta["packages"] if p["id"] in ws and p["rust_version"]}
assert len(msrv) == 1, f"workspace crates disagree on rust-version: {msrv}"
(msrv,) = msrv
bad = ["{} {} needs {}".format(p["name"], p["version"], p["rust_version"]) for p in meta["packages"]
       if p["rust_version"] and v(p["rust_version"]) > v(msrv)]
if bad:
    sys.exit(f"dependencies above the MSRV {msrv}: " + ", ".join(bad))
print("MSRV {}: all {} packages of the lock declare <= {} (or nothing)".format(msrv, len(meta["packages"]), msrv))
'

step "cargo test --workspace --locked"
cargo test --workspace --locked

MSRV=$(sed -n 's/^rust-version = "\(.*\)"/\1/p' Cargo.toml)
step "the whole workspace builds and its tests pass with Rust ${MSRV} (the MSRV)"
if ! rustup toolchain list 2>/dev/null | grep -q "^${MSRV}[.-]"; then
    echo "installing toolchain ${MSRV} (rustup, minimal profile)"
    rustup toolchain install "${MSRV}" --profile minimal >/dev/null 2>&1 || true
fi
if rustup toolchain list 2>/dev/null | grep -q "^${MSRV}[.-]"; then
    # its own target dir: the release cdylibs the host tests load stay the stable build's
    CLOACINA_MSRV_RUN=1 cargo "+${MSRV}" test --workspace --locked --target-dir target/msrv
else
    echo "rust-ci: WARNING: toolchain ${MSRV} could not be installed; the MSRV build is SKIPPED" >&2
fi

step "example cdylibs export exactly one symbol"
EXAMPLES=(pricing-publisher pricing-subscriber routing-publisher routing-subscriber panicky stream-ticker)
cargo build --release --locked $(printf -- '-p %s ' "${EXAMPLES[@]}")
if command -v nm >/dev/null 2>&1; then
    for name in "${EXAMPLES[@]}"; do
        lib="target/release/lib${name//-/_}.so"
        exported=$(nm -D --defined-only "$lib" | awk '{print $3}')
        if [ "$exported" != "cloacina_plugin_entry" ]; then
            echo "$lib exports more than cloacina_plugin_entry:" >&2
            echo "$exported" >&2
            exit 1
        fi
    done
    echo "ok: ${EXAMPLES[*]}"
else
    echo "nm is not installed: skipping the exported-symbol check"
fi
echo
echo "rust-ci: all checks passed"
