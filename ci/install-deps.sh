#!/usr/bin/env bash
# What a fresh Debian or Ubuntu needs besides rustup to build and test the workspace: a C
# linker (gcc, with libc6-dev), util-linux's prlimit and setpriv (the RLIMIT_MEMLOCK and
# descriptor-limit tests), python3 (the asyncio interoperability test and the seccomp
# filter of the setup-error tests), openssl (the TLS tests) and curl (a client to try the
# HTTP and TLS examples with). Installs only what is missing.
set -euo pipefail

missing=()
command -v cc >/dev/null 2>&1 || missing+=(gcc libc6-dev)
command -v prlimit >/dev/null 2>&1 || missing+=(util-linux)
command -v setpriv >/dev/null 2>&1 || missing+=(util-linux)
command -v python3 >/dev/null 2>&1 || missing+=(python3)
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
