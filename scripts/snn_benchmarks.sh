#!/usr/bin/env bash
# Reproduces the SNN tables of BENCHMARKS.md: Yin-Yang test accuracy per
# surrogate family and width τ (CLI defaults otherwise), digits from
# latency-coded pixels, and the snnTorch comparison when snntorch is installed.
#
#   cargo build --release && bash scripts/snn_benchmarks.sh [OUT_DIR] [THREADS]
set -euo pipefail
out=${1:-out/snn-bench}
threads=${2:-2}
lca=${LCA:-target/release/lca}
mkdir -p "$out"
row() { # name, then lca snn train arguments
    local name=$1; shift
    "$lca" snn train --output "$out/$name" --threads "$threads" --json "$@" > "$out/$name.json"
    python3 - "$out/$name.json" "$name" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
val = d["validation_accuracy"]
print(f"| {sys.argv[2]} | {d['surrogate']} | {d['tau']:g} | {100*d['test_accuracy']:.1f} % | "
      + (f"{100*val:.1f} % | " if val is not None else "– | ")
      + f"{d['epoch_seconds']:.2f} s |")
PY
}
echo "| run | surrogate | τ | test | validation | s/epoch |"
echo "| --- | --- | --- | --- | --- | --- |"
for s in box sigmoid exponential fast-sigmoid triangle; do
    for tau in 0.1 0.5; do
        row "yinyang-$s-$tau" --dataset yinyang --surrogate "$s" --tau "$tau"
    done
done
row digits-latency --dataset digits --steps 20 --window 16 --current-decay 0.85 --voltage-decay 0.9 \
    --fixed-decays --fixed-threshold --weight-scale 1.5 --hidden 128 --epochs 30
if python3 -c "import snntorch, torch" 2>/dev/null; then
    python3 scripts/snntorch_yinyang.py --epochs "${SNNTORCH_EPOCHS:-60}" --threads "$threads" --json
fi

# Defaults per dataset (BENCHMARKS.md "Defaults per dataset"), 5 seeds each,
# and the non-spiking baselines of the synthetic spike-stream task.
defaults_row() { # dataset seed
    "$lca" snn train --dataset "$1" --seed "$2" --output "$out/default-$1-$2" --threads "$threads" --json \
        > "$out/default-$1-$2.json"
    python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(f\"| {sys.argv[2]} | {sys.argv[3]} | {100*d['test_accuracy']:.2f} % | {d['epoch_seconds']:.2f} s |\")" \
        "$out/default-$1-$2.json" "$1" "$2"
}
echo "| dataset | seed | test | s/epoch |"
echo "| --- | --- | --- | --- |"
for ds in digits yinyang streams; do
    for seed in 0 1 2 3 4; do defaults_row "$ds" "$seed"; done
done
for seed in 0 1 2 3 4; do
    "$lca" snn make-streams "$out/streams-$seed.npz" --seed "$seed" --quiet
done
python3 scripts/streams_baseline.py "$out"/streams-{0,1,2,3,4}.npz
