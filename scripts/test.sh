#!/usr/bin/env bash
# The test command (README, .ci/run): installs what is missing, builds with warnings as
# errors and ASan/UBSan, checks formatting, runs every test but the fuzz run, then builds
# the libFuzzer target with clang and runs it for a bounded time.
#
#   scripts/test.sh                         from any directory
#   GPUFORM_FUZZ_SECONDS=10 scripts/test.sh  a shorter fuzz run (default 60 s)
#
# Build trees: build-test (the default compiler) and build-fuzz (clang).
set -euo pipefail
cd "$(dirname "$0")/.."

fuzz_seconds="${GPUFORM_FUZZ_SECONDS:-60}"
jobs="$(nproc 2>/dev/null || echo 2)"
# LeakSanitizer fails a test on any leak; UBSan stops at the first report, with a stack.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
export NO_COLOR=1

step() {
    printf '\n==> %s\n' "$*"
}

step "dependencies"
scripts/bootstrap.sh --test

step "build-test: Debug, -Werror, ASan+UBSan"
cmake -S . -B build-test -DCMAKE_BUILD_TYPE=Debug -DGPUFORM_WERROR=ON -DGPUFORM_SANITIZE=ON \
    -DGPUFORM_FUZZ=OFF
cmake --build build-test -j"$jobs"

step "formatting (clang-format, .clang-format)"
# Every tracked C file (new files count once added to git); deleted ones are skipped.
files=()
while IFS= read -r f; do
    [ -f "$f" ] && files+=("$f")
done < <(git ls-files -- '*.c' '*.h')
if [ "${#files[@]}" -gt 0 ]; then
    unformatted=()
    for f in "${files[@]}"; do
        clang-format --dry-run --Werror "$f" >/dev/null 2>&1 || unformatted+=("$f")
    done
    if [ "${#unformatted[@]}" -gt 0 ]; then
        echo "These files are not formatted as .clang-format says:" >&2
        printf '  %s\n' "${unformatted[@]}" >&2
        echo "Fix them with:" >&2
        echo "  clang-format -i ${unformatted[*]}" >&2
        echo "(clang-format --dry-run FILE shows what would change.)" >&2
        exit 1
    fi
    echo "${#files[@]} files formatted"
fi

step "npm test dependencies (tests/sdk, tests/s3: npm ci)"
# The official AWS, Google Compute Engine and Azure clients, and the S3 test server
# (s3rver), pinned by their package-lock.json files; without node and npm the SDK fidelity
# and S3 state tests skip (exit 77) and say why.
if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then
    (cd tests/sdk && npm ci --no-audit --no-fund)
    (cd tests/s3 && npm ci --no-audit --no-fund)
else
    echo "node/npm not found: the SDK fidelity and S3 state tests will be skipped"
fi

step "tests (build-test, everything but the fuzz run)"
(cd build-test && ctest --output-on-failure -j2 -LE fuzz)

step "build-fuzz: clang, libFuzzer, ASan+UBSan; fuzzing for ${fuzz_seconds} s"
# A tree first configured with another compiler keeps it; start that one afresh.
if [ -f build-fuzz/CMakeCache.txt ] &&
    ! grep -q '^CMAKE_C_COMPILER:[A-Z]*=.*clang' build-fuzz/CMakeCache.txt; then
    rm -rf build-fuzz
fi
CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=Debug -DGPUFORM_WERROR=ON \
    -DGPUFORM_SANITIZE=ON -DGPUFORM_FUZZ=ON -DGPUFORM_FUZZ_SECONDS="$fuzz_seconds"
cmake --build build-fuzz -j"$jobs" --target fuzz_spec
cd build-fuzz
ctest -L fuzz --output-on-failure
