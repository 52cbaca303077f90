#!/usr/bin/env bash
# The main job: installs what is missing, builds gpuform (Release, in build-release/),
# validates every example stack, printing what each contains, and plans each one over the
# bundled catalog: where every node goes, what it costs, how close to optimal.
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
