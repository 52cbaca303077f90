#!/bin/sh
# ctest driver for the Azure SDK fidelity test: runs arm_fidelity.mjs with node against
# `gpuform cloudsim`, behind a TLS proxy whose throwaway certificate (for 127.0.0.1, made
# here with openssl) node trusts through NODE_EXTRA_CA_CERTS. Skips (exit 77) only when node,
# npm or openssl is not installed; installs the locked dependencies with `npm ci` when they
# are missing (scripts/test.sh does it first, so CI needs the npm registry only there).
#   run_arm.sh GPUFORM_BINARY SOURCE_DIR
set -eu
gpuform="$1"
src="$2"
for tool in node npm openssl; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "SKIP: $tool is needed for the Azure SDK fidelity test (apt-get install nodejs npm openssl)"
        exit 77
    fi
done
cd "$src/tests/sdk"
. ./deps.sh
sdk_deps @azure/arm-compute @azure/identity
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
    -subj "/CN=127.0.0.1" -addext "subjectAltName=IP:127.0.0.1" \
    -keyout "$tmp/key.pem" -out "$tmp/cert.pem" 2>/dev/null
NODE_EXTRA_CA_CERTS="$tmp/cert.pem" node --no-warnings arm_fidelity.mjs "$gpuform" \
    "$tmp/cert.pem" "$tmp/key.pem"
