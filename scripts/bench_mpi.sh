#!/usr/bin/env bash
# Step time of `lca learn` on 1 and 2 MPI ranks, split into encoding, the
# chunks' partial updates (fixed-point conversion included), communication
# (all collectives, waiting included) and the rest (batch assembly, the
# replicated atom update, renormalisation, Gram matrix), plus the bytes per
# step (BENCHMARKS.md, "MPI"). Interleaved, best of 3 (by step time), one
# solver thread per rank. Needs `cargo build --release --features mpi`.
# Prints one JSON line per run, then the table of the best runs.
set -euo pipefail
cd "$(dirname "$0")/.."
lca="${LCA:-target/release/lca}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
log="$tmp/runs.jsonl"
run() { # ranks patch atoms steps
    mpirun --allow-run-as-root --oversubscribe -np "$1" -x RAYON_NUM_THREADS=1 \
        "$lca" learn --quiet --json --threads 1 --patch-size "$2" --atoms "$3" \
        --steps "$4" --heldout-patches 0 --seed 1 --output "$tmp/r$1-$2-$3" \
        | sed "s/^/{\"np\":$1,\"patch\":$2,\"atoms\":$3,\"run\":/; s/\$/}/" | tee -a "$log"
    rm -rf "$tmp/r$1-$2-$3"
}
for rep in 1 2 3; do
    for np in 1 2; do
        run "$np" 8 128 400
        run "$np" 16 512 40
    done
done
python3 - "$log" <<'PY'
import json, sys
best = {}
for line in open(sys.argv[1]):
    r = json.loads(line)
    key = (r["patch"], r["atoms"], r["np"])
    steps = r["run"]["steps"]
    step = r["run"]["seconds"] / steps
    if key not in best or step < best[key][0]:
        best[key] = (step, r["run"]["mpi"], steps)
print("| config | ranks | step ms | encode ms | partial updates ms | communication ms | rest ms | bytes/step | of which allreduce |")
print("|---|---|---|---|---|---|---|---|---|")
for (p, k, np_), (step, mpi, steps) in sorted(best.items()):
    enc = mpi["encode_seconds"] / steps
    upd = mpi["update_seconds"] / steps
    com = mpi["communication_seconds"] / steps
    rest = step - enc - upd - com
    print(f"| {p}×{p}/{k} | {np_} | {step*1e3:.2f} | {enc*1e3:.2f} | {upd*1e3:.2f} | {com*1e3:.2f} | {rest*1e3:.2f} | {mpi['bytes']/steps:.0f} | {mpi['reduce_bytes']/steps:.0f} |")
PY
