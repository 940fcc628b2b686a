#!/usr/bin/env bash
# Encoding outputs must not change when code moves (issue 23): prints one
# "name md5" line per output file of `lca encode` (rate, spiking and
# fixed-point; dense and CSR codes; streamed in several blocks, with warm
# starts, saved states, traces and spike records; convolutional dictionaries
# from .npy and from an RGB PNG), of the same runs sharded over 2 MPI ranks,
# and of the Python package's encoders on the same data.
#
#   LCA=target/release/lca LCA_MPI=lca-built-with-mpi PY=python-with-lca \
#       scripts/md5_encode_acceptance.sh > after.txt
#   diff before.txt after.txt       # empty: behaviour unchanged
#
# PY is a python3 with numpy (and pillow for the PNG case); its lines about
# the package run when it imports `lca`. LCA_MPI (a binary from `cargo build
# --release --features mpi`) is optional: without it the mpi2 lines are
# skipped. Data are generated from fixed seeds, so runs print the same lines.
set -euo pipefail
cd "$(dirname "$0")/.."
lca="${LCA:-target/release/lca}"
py="${PY:-python3}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

"$py" - "$tmp" <<'PY'
import sys
import numpy as np
d = sys.argv[1]
rng = np.random.default_rng(23)
D = rng.standard_normal((128, 64)).astype(np.float32)
np.save(f"{d}/D_raw.npy", D)
D /= np.linalg.norm(D, axis=1, keepdims=True)
np.save(f"{d}/D.npy", D)
# Patch-like signals: smooth 8x8 patches of a random image (1000 rows, not a
# multiple of the block size), plus white noise rows.
img = np.cumsum(np.cumsum(rng.standard_normal((120, 120)), 0), 1)
img = (img - img.mean()) / img.std()
patches = np.stack([img[y:y + 8, x:x + 8].ravel() for y in range(0, 112, 4) for x in range(0, 112, 4)])[:1000]
patches -= patches.mean(axis=1, keepdims=True)
np.save(f"{d}/X_patches.npy", patches.astype(np.float32))
np.save(f"{d}/X_noise.npy", rng.standard_normal((700, 64)))  # float64 input
F = rng.standard_normal((8, 5, 5)).astype(np.float32)
F /= np.linalg.norm(F.reshape(8, -1), axis=1)[:, None, None]
np.save(f"{d}/F.npy", F)
np.save(f"{d}/I.npy", rng.standard_normal((2, 1, 24, 20)).astype(np.float32))
F3 = rng.standard_normal((4, 3, 5, 5)).astype(np.float32)
F3 /= np.linalg.norm(F3.reshape(4, -1), axis=1)[:, None, None, None]
np.save(f"{d}/F3.npy", F3)
try:
    from PIL import Image
    rgb = (rng.random((20, 28, 3)) * 255).astype(np.uint8)
    Image.fromarray(rgb).save(f"{d}/rgb.png")
except ImportError:
    pass
PY

sum_outputs() { # prefix files...
    local prefix="$1"
    shift
    for f in "$@"; do
        [ -f "$f" ] && echo "$prefix$(basename "$f") $(md5sum <"$f" | cut -d' ' -f1)"
    done
}

run_suite() { # label command-prefix...
    local label="$1"
    shift
    local o="$tmp/$label"
    mkdir -p "$o"
    local d="$tmp"
    # Rate: default block, small blocks, CSR, states, trace, warm start.
    "$@" encode -d "$d/D.npy" -i "$d/X_patches.npy" -o "$o/rate.npy" --lambda 0.1 \
        --save-states "$o/rate_states.npy" --quiet
    "$@" encode -d "$d/D.npy" -i "$d/X_patches.npy" -o "$o/rate_blocks.npy" --lambda 0.1 \
        --chunk-rows 128 --quiet
    "$@" encode -d "$d/D.npy" -i "$d/X_noise.npy" -o "$o/rate_noise.npz" --lambda 0.3 --nonneg \
        --chunk-rows 192 --quiet
    "$@" encode -d "$d/D.npy" -i "$d/X_patches.npy" -o "$o/rate_warm.npy" --lambda 0.05 \
        --warm-start "$tmp/single/rate_states.npy" --save-states "$o/rate_warm_states.npy" \
        --chunk-rows 256 --max-iters 30 --no-projection --quiet
    "$@" encode -d "$d/D_raw.npy" -i "$d/X_patches.npy" -o "$o/rate_firm.npy" --normalize \
        --transfer firm --firm-width 0.2 --integrator exponential --tol 1e-3 --quiet
    "$@" encode -d "$d/D.npy" -i "$d/X_patches.npy" -o "$o/rate_anneal.npy" --anneal-from 4 \
        --adaptive-dt --chunk-rows 320 --quiet
    # Spiking: float with a spike record, fixed point in blocks.
    "$@" encode -d "$d/D.npy" -i "$d/X_patches.npy" -o "$o/spiking.npy" --mode spiking \
        --lambda 0.1 --time-steps 200 --spikes "$o/spikes.npz" --chunk-rows 192 --quiet
    "$@" encode -d "$d/D.npy" -i "$d/X_noise.npy" -o "$o/spiking_nonneg.npz" --mode spiking \
        --nonneg --current-decay 0.3 --quiet
    "$@" encode -d "$d/D.npy" -i "$d/X_patches.npy" -o "$o/fixed.npy" --mode spiking \
        --fixed-point --lambda 0.1 --chunk-rows 128 --spikes "$o/fixed_spikes.npz" --quiet
    sum_outputs "$label/" "$o"/rate.npy "$o"/rate_states.npy "$o"/rate_blocks.npy \
        "$o"/rate_noise.npz "$o"/rate_warm.npy "$o"/rate_warm_states.npy "$o"/rate_firm.npy \
        "$o"/rate_anneal.npy "$o"/spiking.npy "$o"/spikes.npz "$o"/spiking_nonneg.npz \
        "$o"/fixed.npy "$o"/fixed_spikes.npz
}

run_suite single "$lca"
# The trace is single-process only.
"$lca" encode -d "$tmp/D.npy" -i "$tmp/X_patches.npy" -o "$tmp/single/traced.npy" \
    --trace "$tmp/single/trace.csv" --no-projection --max-iters 200 --chunk-rows 64 --quiet
sum_outputs single/ "$tmp/single/traced.npy" "$tmp/single/trace.csv"
# Convolutional dictionaries: rate (both schedules), spiking, fixed point; RGB PNG.
c="$tmp/single"
"$lca" encode -d "$tmp/F.npy" -i "$tmp/I.npy" -o "$c/conv_rate.npy" --lambda 0.2 --quiet
"$lca" encode -d "$tmp/F.npy" -i "$tmp/I.npy" -o "$c/conv_greedy.npz" --lambda 0.2 \
    --conv-schedule greedy --boundary zero --quiet
"$lca" encode -d "$tmp/F.npy" -i "$tmp/I.npy" -o "$c/conv_spiking.npy" --mode spiking \
    --lambda 0.2 --time-steps 128 --quiet
"$lca" encode -d "$tmp/F.npy" -i "$tmp/I.npy" -o "$c/conv_fixed.npy" --mode spiking \
    --fixed-point --lambda 0.2 --time-steps 128 --weight-synapses 1 --quiet
if [ -f "$tmp/rgb.png" ]; then
    "$lca" encode -d "$tmp/F3.npy" -i "$tmp/rgb.png" -o "$c/conv_rgb.npy" --lambda 0.1 --quiet
fi
sum_outputs single/ "$c"/conv_rate.npy "$c"/conv_greedy.npz "$c"/conv_spiking.npy \
    "$c"/conv_fixed.npy "$c"/conv_rgb.npy

if [ -n "${LCA_MPI:-}" ]; then
    run_suite mpi2 mpirun --allow-run-as-root --oversubscribe -np 2 -x RAYON_NUM_THREADS=1 "$LCA_MPI"
fi

if "$py" -c "import lca" 2>/dev/null; then
    # The Python package's codes against the CLI's files of the same runs
    # (the CLI's lines above are the reference): "same" or "DIFFERENT".
    "$py" - "$tmp" <<'PY'
import sys
import numpy as np
import lca
d = sys.argv[1]
cli = lambda name: np.load(f"{d}/single/{name}")
D, Draw = np.load(f"{d}/D.npy"), np.load(f"{d}/D_raw.npy")
X, Xn = np.load(f"{d}/X_patches.npy"), np.load(f"{d}/X_noise.npy")
F, I = np.load(f"{d}/F.npy"), np.load(f"{d}/I.npy")
def check(name, ours, theirs):
    if hasattr(theirs, "files"):  # a CSR .npz
        import scipy.sparse
        theirs = scipy.sparse.csr_matrix((theirs["data"], theirs["indices"], theirs["indptr"]),
                                         shape=tuple(theirs["shape"])).toarray()
    same = ours.shape == theirs.shape and np.array_equal(ours, theirs)
    print(f"python/{name} {'same' if same else 'DIFFERENT'}")
check("rate", lca.sparse_encode(X, D, 0.1), cli("rate.npy"))
check("rate_noise", lca.sparse_encode(Xn, D, 0.3, positive=True), cli("rate_noise.npz"))
check("rate_firm", lca.sparse_encode(X, Draw, 0.1, normalize=True, threshold="firm", firm_width=0.2,
                                     integrator="exponential", tol=1e-3), cli("rate_firm.npy"))
check("spiking", lca.sparse_encode(X, D, 0.1, mode="spiking", time_steps=200), cli("spiking.npy"))
check("fixed", lca.sparse_encode(X, D, 0.1, mode="spiking", fixed_point=True), cli("fixed.npy"))
check("conv_rate", lca.conv_encode(I, F, 0.2), cli("conv_rate.npy"))
check("conv_spiking", lca.conv_encode(I, F, 0.2, mode="spiking", time_steps=128), cli("conv_spiking.npy"))
if hasattr(lca, "sparse_encode_file"):
    for name, kw in (("rate.npy", {}), ("fixed.npy", {"mode": "spiking", "fixed_point": True})):
        lca.sparse_encode_file(f"{d}/X_patches.npy", D, f"{d}/py_{name}", 0.1, block_rows=128, **kw)
        check(f"file_{name}", np.load(f"{d}/py_{name}"), cli(name))
PY
fi
