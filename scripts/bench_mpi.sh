#!/usr/bin/env bash
# Step time of `lca learn` on 1 and 2 MPI ranks, split into encoding, the
# chunks' partial updates (fixed-point conversion included), communication
# (all collectives, waiting included) and the rest (batch assembly, the
# replicated atom update, renormalisation, Gram matrix), plus the bytes per
# step (BENCHMARKS.md, "MPI"). Each configuration runs S and 3S steps; the
# per-step figures are the differences divided by 2S, which removes the
# start-up (opening images, building the first two blocks of patches).
# Interleaved, best of REPS per run length, one solver thread per rank.
# Needs `cargo build --release --features mpi`. Prints one JSON line per
# run, then the table.
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
small="${STEPS_SMALL:-100}" # S at 8×8/128
large="${STEPS_LARGE:-10}"  # S at 16×16/512
for rep in $(seq "${REPS:-3}"); do
    for np in 1 2; do
        for f in 1 3; do
            run "$np" 8 128 $((f * small))
            run "$np" 16 512 $((f * large))
        done
    done
done
python3 - "$log" <<'PY'
import json, sys
best = {}
for line in open(sys.argv[1]):
    r = json.loads(line)
    run, mpi = r["run"], r["run"]["mpi"]
    key = (r["patch"], r["atoms"], r["np"], run["steps"])
    figs = dict(step=run["seconds"], enc=mpi["encode_seconds"], upd=mpi["update_seconds"],
                com=mpi["communication_seconds"], bytes=mpi["bytes"], red=mpi["reduce_bytes"])
    if key not in best or figs["step"] < best[key]["step"]:
        best[key] = figs
print("| config | ranks | step ms | encode ms | partial updates ms | communication ms | rest ms | bytes/step | of which allreduce |")
print("|---|---|---|---|---|---|---|---|---|")
for (p, k, np_, s) in sorted(best):
    long = [key for key in best if key[:3] == (p, k, np_) and key[3] > s]
    if not long:
        continue
    a, b = best[(p, k, np_, s)], best[long[0]]
    d = {x: (b[x] - a[x]) / (long[0][3] - s) for x in a}
    rest = d["step"] - d["enc"] - d["upd"] - d["com"]
    ms = lambda v: f"{v*1e3:.2f}"
    print(f"| {p}×{p}/{k} | {np_} | {ms(d['step'])} | {ms(d['enc'])} | {ms(d['upd'])} | {ms(d['com'])} | {ms(rest)} | {d['bytes']:.0f} | {d['red']:.0f} |")
PY
