#!/usr/bin/env bash
# The checks CI runs on every submission: formatting, lints, and the README's test command.
set -euo pipefail
cd "$(dirname "$0")/.."

bash ci/install-deps.sh

# rustfmt and clippy come with the toolchain; add them if this machine lacks them.
if ! cargo fmt --version >/dev/null 2>&1 || ! cargo clippy --version >/dev/null 2>&1; then
  rustup component add rustfmt clippy
fi

# The workspace: the library, the `ringstream` command (cli/) and the harness (harness/).
cargo fmt --all --check
cargo clippy --workspace --all-targets -- -D warnings
cargo clippy --workspace --all-targets --all-features -- -D warnings
cargo test --workspace
cargo test --workspace --all-features
