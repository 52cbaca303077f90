#!/usr/bin/env bash
# Benchmark of `gpuform plan` (issue 3, "### 5. Benchmarks"; results in docs/benchmarks.md,
# section "Planner").
#
# Builds a Release tree (build-release/) and the three helpers in bench/plan/ (plain cc,
# no CMake), generates instances into bench/out/plan/ (gitignored) with gen_plan, and for
# each family and size:
#   - checks the stack validates with --strict and that the generator's witness placement
#     passes the independent checker (so the instance is feasible);
#   - times `gpuform plan --json --catalog ...` (the fast solver): median of BENCH_RUNS
#     runs, wall and CPU time and peak RSS (wait4 rusage, bench/plan/measure.c), pinned to
#     BENCH_CPUS with taskset; checks the plan with the independent checker
#     (bench/plan/baseline.c --check) and that a second run is byte-identical;
#   - runs the SkyPilot-style baseline (bench/plan/baseline.c);
#   - at the sizes in BENCH_CBC_SIZES: `gpuform plan --solver exact --time-limit
#     BENCH_CBC_LIMIT --lp ...` (cbc), checked the same way, and cbc's LP relaxation of the
#     same LP file (`cbc FILE -initialSolve`) as the LP bound;
#   - two infeasible instances (--infeasible quota, --infeasible budget), where the plan
#     must fail and say why;
# then prints Markdown tables and the goals met or missed.
#
#   bench/plan/run.sh                       from any directory
#   BENCH_RUNS=5 BENCH_SEED=1 BENCH_CPUS=0,1 bench/plan/run.sh
#   BENCH_SIZES="1000x2000" BENCH_FAMILIES="tight" bench/plan/run.sh      a quick look
#
# Environment (defaults):
#   BENCH_RUNS=5             fast-solver runs per instance (median reported); 100k: BENCH_BIG_RUNS=3
#   BENCH_SEED=1             generator seed
#   BENCH_FAMILIES="slack tight oversubscribed real"
#   BENCH_SIZES="1000x2000 10000x20000 100000x200000"   workloads x offers
#   BENCH_CBC_SIZES="1000x2000"                          sizes also solved with cbc
#   BENCH_CBC_LIMIT=600      cbc's time limit, seconds (--time-limit)
#   BENCH_LP_SIZES="10000x20000"  sizes where only the LP relaxation is solved (no MIP)
#   BENCH_LP_LIMIT=600       time limit for the LP relaxation, seconds
#   BENCH_CPUS=0,1           taskset CPU list for the timed runs ("" for no pinning)
#   BENCH_TIMEOUT=300        a fast-solver run still going after this many seconds is
#                            killed and reported as a timeout
#   BENCH_REAL_DIR           the SkyPilot catalogs (default ../shared/data/catalog)
#   BENCH_INFEASIBLE=1       also run the two infeasible instances
set -euo pipefail
cd "$(dirname "$0")/../.."

runs="${BENCH_RUNS:-5}"
big_runs="${BENCH_BIG_RUNS:-3}"
seed="${BENCH_SEED:-1}"
families="${BENCH_FAMILIES:-slack tight oversubscribed real}"
sizes="${BENCH_SIZES:-1000x2000 10000x20000 100000x200000}"
cbc_sizes="${BENCH_CBC_SIZES:-1000x2000}"
cbc_limit="${BENCH_CBC_LIMIT:-600}"
lp_limit="${BENCH_LP_LIMIT:-600}"
lp_sizes="${BENCH_LP_SIZES:-10000x20000}"
cpus="${BENCH_CPUS-0,1}"
infeasible="${BENCH_INFEASIBLE:-1}"
timeout_s="${BENCH_TIMEOUT:-300}"
real_dir="${BENCH_REAL_DIR:-}"
if [ -z "$real_dir" ]; then
    if [ -d ../shared/data/catalog ]; then
        real_dir="$(cd ../shared/data/catalog && pwd)"
    else
        real_dir=/work/shared/data/catalog
    fi
fi
build=build-release
out=bench/out/plan
bin="$out/bin"
mkdir -p "$bin"

say() { echo "bench/plan: $*" >&2; }

# ---- build ----
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DGPUFORM_TESTS=OFF >/dev/null
cmake --build "$build" -j"$(nproc 2>/dev/null || echo 2)" --target gpuform >/dev/null
gpuform="$(pwd)/$build/gpuform"
# What was built: the commit, and whether the tree had uncommitted changes (bench/plan/
# itself aside), taken now, not at the end: others may commit while this runs.
commit="$(git rev-parse --short HEAD 2>/dev/null || echo '?')"
if [ -n "$(git status --porcelain -- . ':!bench/plan' ':!bench/out' 2>/dev/null)" ]; then
    commit="$commit + uncommitted changes"
fi
version="$("$gpuform" version 2>/dev/null | head -1)"
for tool in gen_plan baseline measure; do
    src="bench/plan/$tool.c"
    if [ ! -x "$bin/$tool" ] || [ "$src" -nt "$bin/$tool" ]; then
        cc -O2 -std=c11 -o "$bin/$tool" "$src" -lm
    fi
done
gen="$bin/gen_plan"
base="$bin/baseline"
measure="$bin/measure"
if ! "$gpuform" help 2>&1 | grep -q '^ *plan '; then
    say "this gpuform ($gpuform) has no 'plan' command yet; nothing to measure"
    exit 1
fi
pin=()
if [ -n "$cpus" ] && command -v taskset >/dev/null 2>&1; then
    pin=(taskset -c "$cpus")
fi
have_cbc=0
command -v cbc >/dev/null 2>&1 && have_cbc=1
[ "$have_cbc" = 1 ] || say "no cbc on PATH (apt-get install -y coinor-cbc): no exact results"

# key=value from a `result:` line
get() { sed -n "s/.* $2=\([^ ]*\).*/\1/p" <<<"$(grep '^result:' "$1" | tail -1)"; }
pct() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b == 0 || a == "nan" || b == "nan") print "-"; else printf "%+.3f%%", 100 * (a - b) / b }'; }
money() { awk -v a="$1" 'BEGIN { if (a == "" || a == "nan") print "-"; else printf "%.2f", a }'; }
mib() { awk -v k="$1" 'BEGIN { if (k == "") print "-"; else printf "%.0f", k / 1024 }'; }

rows=()
cbc_rows=()
notes=()
goal_lines=()

# ---- one instance ----
run_instance() {
    local fam="$1" W="$2" O="$3"
    local dir="$out/$fam-${W}x${O}-s$seed"
    local n="$runs"
    [ "$W" -ge 100000 ] && n="$big_runs"
    say "$fam ${W}x${O}: generating"
    rm -rf "$dir"
    "$gen" --family "$fam" --workloads "$W" --offers "$O" --seed "$seed" --real-dir "$real_dir" \
        "$dir" 2>"$dir.gen.log" || { cat "$dir.gen.log" >&2; exit 1; }
    mv "$dir.gen.log" "$dir/gen.log"
    if ! NO_COLOR=1 "$gpuform" validate --strict --quiet "$dir/stack" >"$dir/validate.log" 2>&1; then
        say "$dir/stack does not validate:"; head -20 "$dir/validate.log" >&2; exit 1
    fi
    "$base" --check "$dir/witness.json" "$dir" >"$dir/witness.check" || {
        say "the witness of $dir breaks a constraint (generator bug):"; head "$dir/witness.check" >&2; exit 1; }
    local nodes gpus
    nodes="$(sed -n 's/^nodes //p' "$dir/gen.txt")"
    gpus="$(sed -n 's/^gpus //p' "$dir/gen.txt")"

    # fast solver
    say "$fam ${W}x${O}: gpuform plan, $n runs"
    "$measure" -n "$n" -t "$timeout_s" -o "$dir/fast.json" -e "$dir/fast.err" -- "${pin[@]}" \
        "$gpuform" plan --json --catalog "$dir/catalog.csv" "$dir/stack" >"$dir/fast.time" ||
        { say "measure failed on $dir"; cat "$dir/fast.time" >&2; exit 1; }
    local exit_code t cpu rss fcost flb fgap fok fquotas fbudgets det
    exit_code="$(get "$dir/fast.time" exit)"
    t="$(get "$dir/fast.time" wall_median_s)"
    cpu="$(get "$dir/fast.time" cpu_median_s)"
    rss="$(get "$dir/fast.time" rss_max_kib)"
    fcost=""; flb=""; fgap=""; fok="-"; fquotas="-"; fbudgets="-"; det="-"
    if [ "$exit_code" = 0 ]; then
        "$base" --check "$dir/fast.json" "$dir" >"$dir/fast.check" || true
        fok="$(get "$dir/fast.check" ok)"
        fcost="$(get "$dir/fast.check" cost)"
        flb="$(get "$dir/fast.check" lower_bound)"
        fgap="$(get "$dir/fast.check" gap)"
        fquotas="$(get "$dir/fast.check" quotas_full)/$(get "$dir/fast.check" quotas)"
        fbudgets="$(get "$dir/fast.check" budgets_full)/$(get "$dir/fast.check" budgets)"
        "${pin[@]}" "$gpuform" plan --json --catalog "$dir/catalog.csv" "$dir/stack" \
            >"$dir/fast2.json" 2>/dev/null || true
        if cmp -s "$dir/fast.json" "$dir/fast2.json"; then det=yes; else det=NO; fi
        rm -f "$dir/fast2.json"
        [ "$fok" = 1 ] || notes+=("$fam ${W}x${O}: the fast plan breaks a constraint, see $dir/fast.check")
    elif [ "$exit_code" = timeout ]; then
        notes+=("$fam ${W}x${O}: gpuform plan still running after ${timeout_s} s; killed")
    else
        notes+=("$fam ${W}x${O}: gpuform plan exited $exit_code on a feasible instance (the witness in $dir/witness.json is a plan); first lines of $dir/fast.err: $(head -c 600 "$dir/fast.err" | tr '\n' ' ')")
    fi

    # baseline
    say "$fam ${W}x${O}: baseline"
    "$measure" -n 1 -o "$dir/baseline.txt" -- "$base" --plan-out "$dir/baseline.json" "$dir" \
        >"$dir/baseline.time"
    local bcost bfeas bt bcell
    bcost="$(get "$dir/baseline.txt" cost)"
    bfeas="$(get "$dir/baseline.txt" feasible)"
    bt="$(get "$dir/baseline.txt" solve_s)"
    if [ "$bfeas" = 1 ]; then
        bcell="$(money "$bcost")"
    else
        bcell="$(money "$bcost"), infeasible: $(sed -n 's/^repair: .*quotas_over=\([0-9]*\) budgets_over=\([0-9]*\).*/\1 quotas, \2 budgets over/p' "$dir/baseline.txt")"
    fi

    # exact
    local ccost="" ct="-" cproven="-" clp="" clpt="" cok="-"
    local want_cbc=0 want_lp=0
    [[ " $cbc_sizes " == *" ${W}x${O} "* ]] && want_cbc=1
    [[ " $lp_sizes " == *" ${W}x${O} "* ]] && want_lp=1
    if [ "$have_cbc" = 1 ] && [ "$want_cbc" = 1 ]; then
        say "$fam ${W}x${O}: gpuform plan --solver exact (cbc, limit ${cbc_limit} s)"
        "$measure" -n 1 -o "$dir/exact.json" -e "$dir/exact.err" -- "${pin[@]}" "$gpuform" plan \
            --json --solver exact --time-limit "$cbc_limit" --lp "$dir/model.lp" \
            --catalog "$dir/catalog.csv" "$dir/stack" >"$dir/exact.time" || true
        ct="$(get "$dir/exact.time" wall_median_s)"
        if [ "$(get "$dir/exact.time" exit)" = 0 ]; then
            "$base" --check "$dir/exact.json" "$dir" >"$dir/exact.check" || true
            cok="$(get "$dir/exact.check" ok)"
            ccost="$(get "$dir/exact.check" cost)"
            cproven="$(get "$dir/exact.check" optimal)"
            [ "$cproven" = 1 ] && cproven=yes || cproven=no
        else
            cproven="failed"
            notes+=("$fam ${W}x${O}: --solver exact exited $(get "$dir/exact.time" exit): $(head -c 400 "$dir/exact.err" | tr '\n' ' ')")
        fi
    elif [ "$have_cbc" = 1 ] && [ "$want_lp" = 1 ]; then
        # only the model: cbc gets one second; the LP file is complete before cbc starts
        say "$fam ${W}x${O}: the LP model (gpuform plan --solver exact --lp, cbc stopped)"
        "$measure" -n 1 -t "$lp_limit" -o /dev/null -e "$dir/lpdump.err" -- "$gpuform" plan \
            --json --solver exact --time-limit 1 --lp "$dir/model.lp" \
            --catalog "$dir/catalog.csv" "$dir/stack" >"$dir/lpdump.time" || true
    fi
    if [ "$have_cbc" = 1 ] && [ $((want_cbc + want_lp)) -gt 0 ]; then
        if [ -s "$dir/model.lp" ]; then
            say "$fam ${W}x${O}: LP relaxation (cbc -initialSolve)"
            local t0 t1
            t0="$(date +%s.%N)"
            timeout "$lp_limit" cbc "$dir/model.lp" -initialSolve -quit >"$dir/lp.log" 2>&1 || true
            t1="$(date +%s.%N)"
            clpt="$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')"
            clp="$(sed -n 's/^Optimal - objective value \([-0-9.e+]*\).*/\1/p' "$dir/lp.log" | tail -1)"
        fi
        cbc_rows+=("| $fam | ${W}×${O} | $(money "$fcost") | $t | $(money "$ccost") | $ct | $cproven | $(pct "$fcost" "$ccost") | $(money "$clp") | $clpt | $(pct "$fcost" "$clp") | $(pct "$ccost" "$clp") |")
        if [ "$cproven" = yes ] && [ -n "$fcost" ]; then
            local ok
            ok="$(awk -v a="$fcost" -v b="$ccost" 'BEGIN { print (a <= 1.003 * b + 1e-6) ? "met" : "MISSED" }')"
            goal_lines+=("- cost within 0.3% of CBC's proven optimum, $fam ${W}×${O}: **$ok** ($(pct "$fcost" "$ccost"))")
        fi
        if [ -n "$clp" ] && [ -n "$fcost" ]; then
            local ok
            ok="$(awk -v a="$fcost" -v b="$clp" 'BEGIN { print (a <= 1.01 * b + 1e-6) ? "met" : "MISSED" }')"
            goal_lines+=("- cost within 1% of the LP bound, $fam ${W}×${O}: **$ok** ($(pct "$fcost" "$clp") above cbc's LP relaxation)")
        fi
        if [ "$cproven" != yes ] && [ -n "$clp" ] && [ -n "$fcost" ]; then
            local ok
            ok="$(awk -v a="$fcost" -v b="$clp" 'BEGIN { print (a <= 1.003 * b + 1e-6) ? "met" : "not shown" }')"
            goal_lines+=("- cost within 0.3% of the optimum, $fam ${W}×${O}: **$ok** through the LP bound (no proven CBC optimum; the optimum is at least the LP bound, and the cost is $(pct "$fcost" "$clp") above it)")
        fi
    fi
    if [ -n "$fcost" ] && [ -n "$flb" ] && [ "$flb" != nan ]; then
        local ok
        ok="$(awk -v a="$fcost" -v b="$flb" 'BEGIN { print (a <= 1.01 * b + 1e-6) ? "met" : "not shown by its own bound" }')"
        goal_lines+=("- cost within 1% of a lower bound, $fam ${W}×${O}: $ok (fast's own bound: gap $(awk -v g="$fgap" 'BEGIN { printf "%.3f%%", 100 * g }'))")
    fi
    if [ "$W" = 10000 ] && [ "$O" = 20000 ]; then
        local ok
        ok="$(awk -v a="$t" 'BEGIN { print (a < 1.0) ? "met" : "MISSED" }')"
        [ "$exit_code" = 0 ] || ok="MISSED (no plan: $exit_code)"
        goal_lines+=("- 10,000×20,000 under 1 s on ${cpus:-all} CPUs, $fam: **$ok** (median $t s wall, $cpu s CPU)")
    fi
    if [ "$W" = 100000 ] && [ "$O" = 200000 ]; then
        local ok
        ok="$(awk -v a="$t" -v r="$rss" 'BEGIN { print (a < 15.0 && r < 2 * 1024 * 1024) ? "met" : "MISSED" }')"
        [ "$exit_code" = 0 ] || ok="MISSED (no plan: $exit_code)"
        goal_lines+=("- 100,000×200,000 under 15 s and 2 GB, $fam: **$ok** (median $t s, peak RSS $(mib "$rss") MiB)")
    fi
    local gapcell="-"
    [ -n "$fgap" ] && gapcell="$(money "$flb") ($(awk -v g="$fgap" 'BEGIN { printf "%.3f%%", 100 * g }'))"
    local fastcell="$(money "$fcost")"
    [ "$exit_code" = 0 ] || fastcell="**failed** (exit $exit_code)"
    [ "$exit_code" = timeout ] && fastcell="**timeout** (> ${timeout_s} s)"
    [ "$fok" = 1 ] || [ "$exit_code" != 0 ] || fastcell="$fastcell **INVALID**"
    local ccell="-"
    [ -n "$ccost" ] && ccell="$(money "$ccost") in $ct s ($cproven)"
    [ "$cproven" = failed ] && ccell="failed in $ct s"
    local bvs="-"
    [ -n "$bcost" ] && [ -n "$fcost" ] && bvs="$(pct "$bcost" "$fcost")"
    rows+=("| $fam | ${W}×${O} | $nodes | $gpus | $fastcell | $t | $cpu | $(mib "$rss") | $gapcell | $ccell | $(pct "$fcost" "$ccost") | $bcell | $bvs | $bt | $fquotas | $fbudgets | $det |")
}

run_infeasible() {
    local fam="$1" kind="$2" W="$3" O="$4"
    local dir="$out/$fam-${W}x${O}-s$seed-infeasible-$kind"
    say "$fam ${W}x${O} --infeasible $kind"
    rm -rf "$dir"
    "$gen" --family "$fam" --workloads "$W" --offers "$O" --seed "$seed" --infeasible "$kind" \
        --real-dir "$real_dir" "$dir" 2>/dev/null
    NO_COLOR=1 "$gpuform" validate --strict --quiet "$dir/stack" >"$dir/validate.log" 2>&1 || {
        say "$dir/stack does not validate"; exit 1; }
    "$measure" -n 1 -o "$dir/fast.json" -e "$dir/fast.err" -- "${pin[@]}" "$gpuform" plan \
        --json --no-color --catalog "$dir/catalog.csv" "$dir/stack" >"$dir/fast.time"
    local code t
    code="$(get "$dir/fast.time" exit)"
    t="$(get "$dir/fast.time" wall_median_s)"
    local why
    why="$(grep -m3 -E '(error|warning):' "$dir/fast.err" | sed 's/^[^ ]*: //' | cut -c1-300 | tr '\n' ' ')"
    local errors
    errors="$(grep -c ': error:' "$dir/fast.err" || true)"
    notes+=("infeasible ($kind), $fam ${W}×${O}: exit $code in $t s, $errors errors; first: ${why:-none}")
}

for fam in $families; do
    for size in $sizes; do
        run_instance "$fam" "${size%x*}" "${size#*x}"
    done
done
if [ "$infeasible" = 1 ]; then
    run_infeasible oversubscribed quota 1000 2000
    run_infeasible tight budget 1000 2000
fi

echo
echo "gpuform plan benchmark: seed $seed, $runs runs per instance ($big_runs at 100k), CPUs ${cpus:-all} of $(nproc), commit $commit ($version), $(date -u +%Y-%m-%d)"
echo
echo "| Family | W×O | Nodes | GPUs | Fast cost (USD) | Fast wall (s) | Fast CPU (s) | Peak RSS (MiB) | Fast lower bound (gap) | CBC cost (proven) | Fast vs CBC | Baseline cost | Baseline vs fast | Baseline (s) | Quotas full | Budgets at cap | Deterministic |"
echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
printf '%s\n' "${rows[@]}"
if [ "${#cbc_rows[@]}" -gt 0 ]; then
    echo
    echo "| Family | W×O | Fast cost | Fast (s) | CBC cost | CBC (s) | CBC proven | Fast vs CBC | LP bound | LP (s) | Fast vs LP | CBC vs LP |"
    echo "|---|---|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|"
    printf '%s\n' "${cbc_rows[@]}"
fi
echo
echo "Goals:"
printf '%s\n' "${goal_lines[@]}"
if [ "${#notes[@]}" -gt 0 ]; then
    echo
    echo "Notes:"
    printf -- '- %s\n' "${notes[@]}"
fi
