#!/usr/bin/env bash
# Step time of `lca learn` on 1 and 2 MPI ranks, split into encoding,
# communication and the rest (BENCHMARKS.md, "MPI"). Interleaved, best of 3,
# one solver thread per rank. Needs `cargo build --release --features mpi`.
# Prints one JSON summary per run: see its "mpi" block.
set -euo pipefail
cd "$(dirname "$0")/.."
lca="${LCA:-target/release/lca}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
run() { # ranks patch atoms steps
    mpirun --allow-run-as-root --oversubscribe -np "$1" -x RAYON_NUM_THREADS=1 \
        "$lca" learn --quiet --json --threads 1 --patch-size "$2" --atoms "$3" \
        --steps "$4" --heldout-patches 0 --seed 1 --output "$tmp/r$1-$2-$3" \
        | sed "s/^/{\"np\":$1,\"patch\":$2,\"atoms\":$3,\"run\":/; s/\$/}/"
    rm -rf "$tmp/r$1-$2-$3"
}
for rep in 1 2 3; do
    for np in 1 2; do
        run "$np" 8 128 400
        run "$np" 16 512 40
    done
done
