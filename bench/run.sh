#!/usr/bin/env bash
# Benchmark of `gpuform validate` on generated stacks (10 MB, plus 1 MB and 100 KB for
# scale): builds a Release tree, generates the stacks into bench/out/ (gitignored), checks
# each validates (--strict: no error, no warning), times RUNS runs of each and prints a
# Markdown table. Goal (docs/benchmarks.md): 10 MB in under 0.5 s and under 10x its size
# in peak RSS.
#
#   bench/run.sh                     from any directory
#   BENCH_RUNS=21 BENCH_SEED=7 bench/run.sh
set -euo pipefail
cd "$(dirname "$0")/.."

runs="${BENCH_RUNS:-11}"
seed="${BENCH_SEED:-1}"
build="build-release"
out=bench/out

cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DGPUFORM_TESTS=OFF >/dev/null
cmake --build "$build" -j"$(nproc 2>/dev/null || echo 2)" \
    --target gpuform gpuform_bench_gen gpuform_bench_validate >/dev/null
gpuform="$build/gpuform"
gen="$build/bench/gpuform_bench_gen"
bench="$build/bench/gpuform_bench_validate"
mkdir -p "$out"

# label:bytes, largest first
sizes=("10 MB:10000000" "1 MB:1000000" "100 KB:100000")
rows=()
goal_time=0.5
goal_ratio=10
verdict=""
for entry in "${sizes[@]}"; do
    label="${entry%%:*}"
    bytes="${entry##*:}"
    file="$out/stack-${bytes}.yaml"
    "$gen" --bytes "$bytes" --seed "$seed" "$file" 2>"$out/gen-${bytes}.log"
    workloads="$(sed -n 's/.* bytes, \([0-9]*\) workloads.*/\1/p' "$out/gen-${bytes}.log")"
    # The generated stack must be valid: no error and no warning.
    if ! NO_COLOR=1 "$gpuform" validate --strict --quiet "$file" >"$out/check-${bytes}.log" 2>&1; then
        echo "bench: $file does not validate; see $out/check-${bytes}.log:" >&2
        head -20 "$out/check-${bytes}.log" >&2
        exit 1
    fi
    "$bench" -n "$runs" "$gpuform" "$file" | tee "$out/bench-${bytes}.log" >&2
    result="$(grep '^result:' "$out/bench-${bytes}.log")"
    get() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$result"; }
    input="$(get input_bytes)"
    med="$(get wall_median_s)"
    min="$(get wall_min_s)"
    cpu="$(get cpu_median_s)"
    rss_kib="$(get rss_median_kib)"
    base_kib="$(get rss_baseline_kib)"
    ratio="$(get ratio)"
    ratio_net="$(get ratio_net)"
    rss_mib="$(awk -v k="$rss_kib" 'BEGIN { printf "%.1f", k / 1024 }')"
    base_mib="$(awk -v k="$base_kib" 'BEGIN { printf "%.1f", k / 1024 }')"
    rows+=("| $label | $input | $workloads | $med | $min | $cpu | $rss_mib | $ratio | $ratio_net |")
    if [ "$bytes" = 10000000 ]; then
        t_ok="$(awk -v a="$med" -v b="$goal_time" 'BEGIN { print (a < b) ? "met" : "MISSED" }')"
        r_ok="$(awk -v a="$ratio" -v b="$goal_ratio" 'BEGIN { print (a < b) ? "met" : "MISSED" }')"
        verdict="Goal for 10 MB: time < ${goal_time} s: $t_ok (median ${med} s); peak RSS < ${goal_ratio}x input: $r_ok (${ratio}x; ${ratio_net}x above the ${base_mib} MiB of 'gpuform version')"
    fi
done

echo
echo "gpuform validate, $runs runs each, seed $seed, $(git rev-parse --short HEAD 2>/dev/null || echo '?'), $(nproc) CPUs"
echo
echo "| Stack | Input bytes | Workloads | Median wall (s) | Min wall (s) | Median CPU (s) | Median peak RSS (MiB) | Peak RSS / input | Above baseline / input |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
printf '%s\n' "${rows[@]}"
echo
echo "$verdict"
