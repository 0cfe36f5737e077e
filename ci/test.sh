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
# What only the optional features build (TLS, the async I/O traits, tracing): the library's unit
# tests, the feature-gated test targets and the feature modules' doc examples, with every
# feature on (cargo cannot mix --doc with other targets in one command).
cargo test -p ringstream --all-features --lib --test tls --test tls_interop --test io_traits --test hyper --test allocations --test tracing
cargo test -p ringstream --all-features --doc -- tokio_io futures_io ReadmeDoctests tls
# The command's TLS options (`ringstream echo --tls-cert`, `load --tls-ca`).
cargo test -p ringstream-cli --features tls --test cli -- tls
