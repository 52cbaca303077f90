#!/bin/sh
# ctest driver for the SDK fidelity tests: runs ec2_fidelity.mjs (the AWS SDK for
# JavaScript) or gce_fidelity.mjs (Google's @google-cloud/compute and google-auth-library)
# with node against `gpuform cloudsim`. Skips (exit 77) only when node or npm is not
# installed; installs the locked dependencies with `npm ci` when one is missing from
# node_modules (scripts/test.sh does it first, so CI needs the npm registry only there).
#   run.sh GPUFORM_BINARY SOURCE_DIR [ec2|gce]
set -eu
gpuform="$1"
src="$2"
which="${3:-ec2}"
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    echo "SKIP: node and npm are needed for the SDK fidelity tests (apt-get install nodejs npm)"
    exit 77
fi
cd "$src/tests/sdk"
. ./deps.sh
sdk_deps @aws-sdk/client-ec2 @google-cloud/compute google-auth-library
# The SDK's notice about future node versions is not a test result.
export AWS_SDK_JS_SUPPRESS_NODE_DEPRECATION_WARNING=1
exec node --no-warnings "${which}_fidelity.mjs" "$gpuform" "$src/specs/cloudsim/fast.yaml"
