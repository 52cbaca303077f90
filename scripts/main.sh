#!/usr/bin/env bash
# The main job: installs what is missing, builds gpuform (Release, in build-release/),
# validates every example stack, printing what each contains, plans each one over the
# bundled catalog (where every node goes, what it costs, how close to optimal), then
# applies the quickstart stack (AWS, GCP and Azure at once) on the embedded default, the
# simulator with local state: `apply --sim` creates every node across the three clouds'
# APIs (EC2, GCE, ARM), a plan that has nothing left to do, and `destroy --sim`.
#
#   scripts/main.sh   from any directory
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/bootstrap.sh
cmake -S . -B build-release -DCMAKE_BUILD_TYPE=Release -DGPUFORM_TESTS=OFF
cmake --build build-release -j"$(nproc 2>/dev/null || echo 2)"

shopt -s nullglob
examples=(specs/examples/*)
if [ "${#examples[@]}" -eq 0 ]; then
    echo "main: specs/examples/ holds no example stack" >&2
    exit 1
fi
echo
echo "==> gpuform validate ${examples[*]}"
build-release/gpuform validate "${examples[@]}"

for stack in "${examples[@]}"; do
    echo
    echo "==> gpuform plan $stack"
    build-release/gpuform plan "$stack"
done

# apply on the simulator, in a copy so that the state and cloudsim's world stay out of the
# source tree
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cp -r specs/examples/quickstart "$work/stack"
echo
echo "==> gpuform apply --sim --auto-approve (specs/examples/quickstart: aws, gcp and azure on cloudsim)"
build-release/gpuform apply --sim --auto-approve "$work/stack"
echo
echo "==> gpuform plan --detailed-exitcode (nothing left to do)"
build-release/gpuform plan --detailed-exitcode "$work/stack"
echo
echo "==> gpuform state list"
build-release/gpuform state list --stack "$work/stack"
echo
echo "==> gpuform destroy --sim --auto-approve"
build-release/gpuform destroy --sim --auto-approve "$work/stack"
