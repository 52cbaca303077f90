#!/bin/sh
# Rebuilds specs/catalog/gpuform-catalog.csv, the catalog compiled into gpuform, from the
# SkyPilot catalogs in ../shared/data/catalog with `gpuform catalog import`: the GPU families
# gpuform covers, each group of rows with the date its prices were observed and its public
# origin (docs/catalog.md, "The bundled catalog"). The same data gives the same bytes.
#
#   scripts/build-catalog.sh                 rewrite specs/catalog/gpuform-catalog.csv
#   scripts/build-catalog.sh -o FILE         write FILE instead (the ctest check does this)
#
# GPUFORM (default build/gpuform) names the binary; GPUFORM_SHARED_DATA (default
# ../shared/data) the data folder. Rebuild gpuform afterwards to embed the new catalog.
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
bin=${GPUFORM:-$root/build/gpuform}
data=${GPUFORM_SHARED_DATA:-$root/../shared/data}/catalog
out=$root/specs/catalog/gpuform-catalog.csv
if [ $# -eq 2 ] && [ "$1" = -o ]; then
    out=$2
elif [ $# -ne 0 ]; then
    echo "usage: scripts/build-catalog.sh [-o FILE]" >&2
    exit 2
fi
if [ ! -x "$bin" ]; then
    echo "build-catalog: no gpuform binary at $bin (build first, or set GPUFORM)" >&2
    exit 1
fi
if [ ! -d "$data" ]; then
    echo "build-catalog: no catalog data at $data (set GPUFORM_SHARED_DATA)" >&2
    exit 1
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/gpuform-catalog.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM
cat="$tmp/gpuform-catalog.csv"

import() {
    "$bin" catalog import --format skypilot --merge --out "$cat" "$@" >"$tmp/summary" || {
        cat "$tmp/summary"
        exit 1
    }
    sed 's/^/    /' "$tmp/summary" | sed "s|$data/||g"
}

# AWS p-family (per availability zone, with spot prices): official skypilot-catalog v8,
# transcribed at commit 00148f2; that commit's date is unknown, so as_of is the day the
# data was copied (the data README's date).
echo "aws p3/p3dn/p4d/p4de/p5/p5e/p5en:"
import --cloud aws --as-of 2026-11-21 \
    --source "skypilot-catalog v8 aws/vms.csv @00148f2 (commit date unknown; copied 2026-11-21)" \
    --only 'p3.*' --only 'p3dn.*' --only 'p4d.*' --only 'p4de.*' --only 'p5.*' --only 'p5e.*' \
    --only 'p5en.*' "$data/aws_gpu_vms.csv"

# AWS g5/g6/g6e on demand (per region; the source has no spot prices).
echo "aws g5/g6/g6e:"
import --cloud aws --as-of 2026-01-21 \
    --source "instances.vantage.sh via tsaol/aws-gpu @7412fd2 (on-demand only)" \
    --only 'g5.*' --only 'g6.*' --only 'g6e.*' "$data/aws_gpu_ondemand_vantage.csv"

# GCP a2/a3/g2 (GPU built into the machine type) and N1 with T4/V100 attached: accelerator
# price plus host VM price, as SkyPilot combines them. SkyPilot's copy of 2026-04-02.
echo "gcp a2/a3/g2, n1+T4/V100:"
import --cloud gcp --as-of 2026-04-02 \
    --source "skypilot-catalog gcp/vms.csv via anycloud-sh/catalog @69b86f0 (GPU + host VM)" \
    --only 'a2-*' --only 'a3-*' --only 'g2-*' --only 'n1-*' \
    --gpu A100 --gpu A100-80GB --gpu H100 --gpu H100-MEGA --gpu H200 --gpu L4 --gpu T4 \
    --gpu V100 --gcp-host-vms "$data/gcp_gpu_host_vms.csv" "$data/gcp_gpu_vms.csv"

# Azure NC/ND sizes with H100, A100, T4 or V100 (per region). anycloud-sh's catalog in
# SkyPilot's schema, 2026-05-20.
echo "azure NC/ND H100/A100/T4/V100:"
import --cloud azure --as-of 2026-05-20 \
    --source "anycloud-sh/catalog azure/vms.csv @62ff0a9 (SkyPilot schema)" \
    --only 'Standard_NC*' --only 'Standard_ND*' \
    --gpu H100 --gpu A100 --gpu A100-80GB --gpu T4 --gpu V100 --gpu V100-32GB \
    "$data/azure_gpu_vms.csv"

# Copy next to the target, then rename: a reader never sees half a catalog.
cp "$cat" "$out.tmp.$$"
mv "$out.tmp.$$" "$out"
echo "wrote $out ($(($(wc -l <"$out") - 1)) offers)"
