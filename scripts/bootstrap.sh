#!/usr/bin/env bash
# Installs what gpuform needs on a fresh Debian 12 machine, with apt-get, and only what is
# missing: each package is checked with `dpkg -s` first, and `apt-get update` runs only
# when something has to be installed.
#
#   scripts/bootstrap.sh          build dependencies
#   scripts/bootstrap.sh --test   also clang, the libFuzzer runtime, clang-format, cbc (the exact solver the
#                                 planner tests compare against), jq, and etcd-server, etcd-client and
#                                 openssl for the etcd state backend test
#
# Uses sudo when not run as root.
set -euo pipefail

usage() {
    echo "usage: scripts/bootstrap.sh [--test]"
}

want_test=0
for arg in "$@"; do
    case "$arg" in
    --test) want_test=1 ;;
    -h | --help)
        usage
        exit 0
        ;;
    *)
        usage >&2
        exit 2
        ;;
    esac
done

packages=(build-essential cmake pkg-config git libyaml-dev libcurl4-openssl-dev libjansson-dev
    libssl-dev liblua5.4-dev libcmocka-dev libxml2-dev libmicrohttpd-dev)
if [ "$want_test" = 1 ]; then
    # libclang-rt-14-dev holds libclang_rt.fuzzer*.a (libFuzzer) and the sanitizer runtimes
    # for clang 14, Debian 12's clang.
    # openssl: the Azure SDK fidelity test's throwaway TLS certificate and the etcd test's
    # certificates; etcd-server, etcd-client: the etcd state backend test
    packages+=(clang libclang-rt-14-dev clang-format coinor-cbc jq openssl etcd-server etcd-client)
fi

if ! command -v dpkg >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1; then
    echo "bootstrap: this script needs Debian or Ubuntu (dpkg and apt-get); install by hand:" >&2
    echo "  ${packages[*]}" >&2
    exit 1
fi

installed() {
    dpkg -s "$1" 2>/dev/null | grep -q '^Status: install ok installed$'
}

missing=()
for p in "${packages[@]}"; do
    installed "$p" || missing+=("$p")
done

if [ "${#missing[@]}" -eq 0 ]; then
    echo "bootstrap: nothing missing (${#packages[@]} packages checked)"
    exit 0
fi

echo "bootstrap: installing ${missing[*]}"
sudo=()
if [ "$(id -u)" -ne 0 ]; then
    if ! command -v sudo >/dev/null 2>&1; then
        echo "bootstrap: not root and no sudo; as root run:" >&2
        echo "  apt-get update && apt-get install -y ${missing[*]}" >&2
        exit 1
    fi
    sudo=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
    "${missing[@]}"

still=()
for p in "${missing[@]}"; do
    installed "$p" || still+=("$p")
done
if [ "${#still[@]}" -ne 0 ]; then
    echo "bootstrap: still missing after apt-get: ${still[*]}" >&2
    exit 1
fi
echo "bootstrap: installed ${missing[*]}"
