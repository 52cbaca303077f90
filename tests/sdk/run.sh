#!/bin/sh
# ctest driver for the SDK fidelity test: runs ec2_fidelity.mjs with node against
# `gpuform cloudsim`. Skips (exit 77) only when node or npm is not installed; installs the
# locked dependencies with `npm ci` when node_modules is missing (scripts/test.sh does it
# first, so CI needs the npm registry only there).
#   run.sh GPUFORM_BINARY SOURCE_DIR
set -eu
gpuform="$1"
src="$2"
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    echo "SKIP: node and npm are needed for the AWS SDK fidelity test (apt-get install nodejs npm)"
    exit 77
fi
cd "$src/tests/sdk"
if [ ! -d node_modules/@aws-sdk/client-ec2 ]; then
    npm ci --no-audit --no-fund
fi
# The SDK's notice about future node versions is not a test result.
export AWS_SDK_JS_SUPPRESS_NODE_DEPRECATION_WARNING=1
exec node --no-warnings ec2_fidelity.mjs "$gpuform" "$src/specs/cloudsim/fast.yaml"
