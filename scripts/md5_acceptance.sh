#!/usr/bin/env bash
# Issue 23's "behaviour unchanged" check for learning: runs every learner with
# small, step-bounded settings (results independent of timing and threads) and
# prints one md5 per output -- dictionary.npy, and training.csv without its
# `seconds` column. Run it on two builds and diff the outputs:
#   LCA=old/lca LCA_MPI=old/lca-mpi PYTHONPATH=old/py scripts/md5_acceptance.sh /tmp/before > before.md5
#   scripts/md5_acceptance.sh /tmp/after > after.md5 && diff before.md5 after.md5
# LCA: the CLI (default target/release/lca); LCA_MPI: a `--features mpi`
# build (the MPI rows are skipped without it or without mpirun); PYTHON: an
# interpreter that imports this checkout's `lca` package (rows skipped if none).
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:?usage: $0 OUT_DIR}"
lca="${LCA:-target/release/lca}"
lca_mpi="${LCA_MPI:-}"
py="${PYTHON:-python3}"
rm -rf "$out"
mkdir -p "$out"
patch=(--quiet --steps 40 --seed 3 --atoms 32 --batch-size 64 --heldout-patches 256 --heldout-every 10)
conv=(--quiet --conv --steps 6 --seed 3 --atoms 8 --kernel-size 6 --crop 32 --heldout-images 1)

digest() { # name folder-with-dictionary.npy-and-training.csv
    printf '%-22s dictionary.npy %s\n' "$1" "$(md5sum <"$2/dictionary.npy" | cut -c1-32)"
    printf '%-22s training.csv   %s\n' "$1" "$(cut -d, -f1,3- "$2/training.csv" | md5sum | cut -c1-32)"
}

"$lca" learn "${patch[@]}" --rule hebbian -o "$out/hebbian"
digest patch-folder-hebbian "$out/hebbian"
"$lca" learn "${patch[@]}" --rule online -o "$out/online"
digest patch-folder-online "$out/online"
"$lca" learn "${conv[@]}" -o "$out/conv"
digest conv-folder "$out/conv"

if "$py" -c 'import lca, numpy' 2>/dev/null; then
    # The same matrix for `--patches` and DictionaryLearning; images for ConvDictionaryLearning.
    "$py" - "$out" <<'PY'
import sys, numpy as np
out = sys.argv[1]
rng = np.random.default_rng(7)
np.save(f"{out}/X.npy", rng.standard_normal((1500, 64)).astype(np.float32))
np.save(f"{out}/images.npy", rng.random((4, 1, 48, 40)).astype(np.float32))
PY
    "$lca" learn --quiet --patches "$out/X.npy" --steps 40 --seed 3 --atoms 32 --batch-size 64 -o "$out/matrix"
    digest patch-matrix-cli "$out/matrix"
    "$py" - "$out" <<'PY'
import csv, os, sys, numpy as np, lca
out = sys.argv[1]
def save(name, est):
    d = os.path.join(out, name); os.makedirs(d)
    np.save(os.path.join(d, "dictionary.npy"), est.components_)
    log = est.training_log_
    keys = ["step", "seconds", "mse", "l1", "active_fraction", "energy"]
    with open(os.path.join(d, "training.csv"), "w", newline="") as f:
        w = csv.writer(f); w.writerow(keys)
        for row in zip(*(log[k] for k in keys)):
            w.writerow([repr(float(v)) for v in row])
X = np.load(os.path.join(out, "X.npy"))
for rule in ("hebbian", "online"):
    save(f"py-dl-{rule}", lca.DictionaryLearning(32, n_steps=40, batch_size=64, rule=rule, random_state=3).fit(X))
images = np.load(os.path.join(out, "images.npy"))
save("py-conv", lca.ConvDictionaryLearning(8, kernel_size=6, n_steps=6, crop=32, random_state=3).fit(images))
PY
    digest py-dictionary-hebbian "$out/py-dl-hebbian"
    digest py-dictionary-online "$out/py-dl-online"
    digest py-conv "$out/py-conv"
fi

if [ -n "$lca_mpi" ] && command -v mpirun >/dev/null; then
    mpi=(mpirun --allow-run-as-root --oversubscribe -np 2 -x RAYON_NUM_THREADS=1 "$lca_mpi")
    "${mpi[@]}" learn "${patch[@]}" --rule hebbian -o "$out/mpi-hebbian"
    digest mpi2-patch-hebbian "$out/mpi-hebbian"
    "${mpi[@]}" learn "${patch[@]}" --rule online -o "$out/mpi-online"
    digest mpi2-patch-online "$out/mpi-online"
fi
