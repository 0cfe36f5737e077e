#!/usr/bin/env bash
# System tools the tests use: util-linux's prlimit and setpriv (the RLIMIT_MEMLOCK test),
# python3 (the asyncio interoperability test), openssl (the TLS interoperability test),
# curl (tests/hyper.rs). Installs only what is missing.
set -euo pipefail

missing=()
command -v prlimit >/dev/null 2>&1 || missing+=(util-linux)
command -v setpriv >/dev/null 2>&1 || missing+=(util-linux)
command -v python3 >/dev/null 2>&1 || missing+=(python3)
# The TLS interoperability tests run openssl s_client / s_server.
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
command -v curl >/dev/null 2>&1 || missing+=(curl)

if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
  else
    echo "ci/install-deps.sh: missing ${missing[*]} and cannot install them (need root and apt-get)" >&2
  fi
fi
