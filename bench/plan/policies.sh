#!/usr/bin/env bash
# What the policies' offer hooks cost the planner (issue 7: "overhead on the 10,000 x
# 20,000 planner benchmark at most 2x"; results in docs/benchmarks.md, "Policy hooks").
#
# For each family, the 10,000 x 20,000 instance of bench/plan/run.sh (generated here with
# the same generator and seed when missing) is planned twice per round, side by side:
#   without  the stack as generated
#   with     the same stack with hooks: the four files of bench/plan/policies/ (two
#            filter_offer, two score_offer; they read labels, cloud, region, market, GPU
#            and price, so the cache is exercised the way real policies would)
# alternating, BENCH_RUNS rounds; medians of wall time, and the ratio of the medians. It
# also checks that both plans are feasible and prints the judge's counts
# (GPUFORM_POLICY_STATS): offers judged, hook calls run, answers from the cache.
#
#   bench/plan/policies.sh
#   BENCH_RUNS=7 BENCH_FAMILIES="real tight" BENCH_CPUS=0,1 bench/plan/policies.sh
set -euo pipefail
cd "$(dirname "$0")/../.."

runs="${BENCH_RUNS:-5}"
seed="${BENCH_SEED:-1}"
families="${BENCH_FAMILIES:-real tight slack}"
size="${BENCH_SIZE:-10000x20000}"
cpus="${BENCH_CPUS-0,1}"
real_dir="${BENCH_REAL_DIR:-}"
if [ -z "$real_dir" ]; then
    if [ -d ../shared/data/catalog ]; then real_dir="$(cd ../shared/data/catalog && pwd)"
    else real_dir=/work/shared/data/catalog; fi
fi
out=bench/out/plan
bin="$out/bin"
mkdir -p "$bin"
say() { echo "bench/plan/policies: $*" >&2; }

cmake -S . -B build-release -DCMAKE_BUILD_TYPE=Release -DGPUFORM_TESTS=OFF >/dev/null
cmake --build build-release -j"$(nproc 2>/dev/null || echo 2)" --target gpuform >/dev/null
gpuform="$(pwd)/build-release/gpuform"
commit="$(git rev-parse --short HEAD 2>/dev/null || echo '?')"
[ -z "$(git status --porcelain -- . ':!bench/out' 2>/dev/null)" ] || commit="$commit + uncommitted changes"
for tool in gen_plan; do
    [ -x "$bin/$tool" ] && [ ! "bench/plan/$tool.c" -nt "$bin/$tool" ] ||
        cc -O2 -std=c11 -o "$bin/$tool" "bench/plan/$tool.c" -lm
done
pin=()
[ -n "$cpus" ] && command -v taskset >/dev/null 2>&1 && pin=(taskset -c "$cpus")

median() { sort -g | awk '{ a[NR] = $1 } END { if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
# wall seconds of one run, its exit status checked
timed() {
    local start end
    start=$(date +%s.%N)
    "${pin[@]}" "$@" >/dev/null 2>"$err" || { say "failed: $*"; cat "$err" >&2; exit 1; }
    end=$(date +%s.%N)
    awk -v a="$start" -v b="$end" 'BEGIN { printf "%.4f\n", b - a }'
}

echo "| family | without hooks, median s | with hooks, median s | ratio | offers judged | hook calls run | answers from the cache | rejected |"
echo "|---|---|---|---|---|---|---|---|"
W="${size%x*}" O="${size#*x}"
for fam in $families; do
    dir="$out/$fam-${size}-s$seed"
    if [ ! -f "$dir/stack/stack.yaml" ]; then
        say "$fam $size: generating"
        rm -rf "$dir"
        "$bin/gen_plan" --family "$fam" --workloads "$W" --offers "$O" --seed "$seed" \
            --real-dir "$real_dir" "$dir" >/dev/null
    fi
    hooked="$dir/stack-hooks"
    rm -rf "$hooked"
    cp -r "$dir/stack" "$hooked"
    cp bench/plan/policies/*.lua "$hooked/"
    printf '\nhooks: [residency.lua, ceiling.lua, prefer-on-demand.lua, committed-use.lua]\n' \
        >>"$hooked/stack.yaml"
    err="$dir/policies.err"
    a=() b=()
    for ((i = 0; i < runs; i++)); do
        a+=("$(timed "$gpuform" plan --json --catalog "$dir/catalog.csv" "$dir/stack")")
        b+=("$(timed "$gpuform" plan --json --catalog "$dir/catalog.csv" "$hooked")")
    done
    GPUFORM_POLICY_STATS=1 "$gpuform" plan --json --catalog "$dir/catalog.csv" "$hooked" \
        >"$dir/policies.json" 2>"$err"
    stats="$(grep '^policies:' "$err" || true)"
    ma="$(printf '%s\n' "${a[@]}" | median)"
    mb="$(printf '%s\n' "${b[@]}" | median)"
    ratio="$(awk -v a="$ma" -v b="$mb" 'BEGIN { printf "%.2fx", b / a }')"
    read -r judged calls hits rejected < <(sed -E 's/policies: ([0-9]+) offer judgements, ([0-9]+) hook calls run, ([0-9]+) answers from the cache, ([0-9]+) rejected/\1 \2 \3 \4/' <<<"$stats")
    echo "| $fam | $ma | $mb | $ratio | $judged | $calls | $hits | $rejected |"
    say "$fam: without ${a[*]}; with ${b[*]}"
done
echo
echo "commit $commit, $(date -u +%Y-%m-%d), $(nproc) CPUs: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), runs $runs, pinned to ${cpus:-none}"
