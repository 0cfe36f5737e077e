#!/usr/bin/env bash
# Tools the HTTP bench (`cargo bench --bench http`) drives: wrk, the HTTP load generator.
# Not needed by the tests or CI. Installs only what is missing (Debian's `wrk` package,
# through apt-get, with sudo when not root) and says what it did; safe to run again.
set -euo pipefail

if command -v wrk >/dev/null 2>&1; then
  echo "ci/install-bench-tools.sh: wrk is already installed ($(command -v wrk)); nothing to do"
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "ci/install-bench-tools.sh: wrk is missing and there is no apt-get here;" \
    "install wrk with this system's package manager (https://github.com/wg/wrk)" >&2
  exit 1
fi

sudo=()
if [ "$(id -u)" -ne 0 ]; then
  if ! command -v sudo >/dev/null 2>&1; then
    echo "ci/install-bench-tools.sh: wrk is missing; installing it needs root or sudo" >&2
    exit 1
  fi
  sudo=(sudo)
fi

echo "ci/install-bench-tools.sh: wrk is missing; installing the Debian package wrk with apt-get"
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
echo "ci/install-bench-tools.sh: installed $(command -v wrk)"
