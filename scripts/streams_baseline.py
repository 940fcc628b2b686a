#!/usr/bin/env python3
"""Non-spiking baselines for spike-stream files (the layout of `lca::snn::streams`).

For each event file: logistic regression (scikit-learn) on per-channel event
counts -- what a rate decoder sees -- and, for reference, on the events
binned onto STEPS time bins (timing-aware but linear). Same 75/25 stratified
split proportions as `lca snn train` (drawn by numpy here, seed 0).

    target/release/lca snn make-streams out/streams-0.npz --seed 0
    python3 scripts/streams_baseline.py out/streams-*.npz [--steps 50]
"""
import argparse
import json
import sys

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler


def load(path):
    z = np.load(path)
    for key in ("times", "channels", "offsets", "labels"):
        if key not in z:
            sys.exit(f"{path}: missing entry '{key}.npy'")
    t, c, o, y = z["times"], z["channels"].astype(np.int64), z["offsets"].astype(np.int64), z["labels"]
    n_channels = int(z["n_channels"]) if "n_channels" in z else int(c.max()) + 1
    duration = float(z["duration"]) if "duration" in z else float(t.max())
    return t, c, o, y.astype(np.int64), n_channels, duration


def features(t, c, o, n_channels, duration, steps):
    n = len(o) - 1
    sample = np.repeat(np.arange(n), np.diff(o))
    counts = np.zeros((n, n_channels))
    np.add.at(counts, (sample, c), 1.0)
    k = np.minimum((t / duration * steps).astype(np.int64), steps - 1)
    binned = np.zeros((n, steps * n_channels))
    np.add.at(binned, (sample, k * n_channels + c), 1.0)
    return counts, binned


def accuracy(x, y, seed):
    xtr, xte, ytr, yte = train_test_split(x, y, test_size=0.25, stratify=y, random_state=seed)
    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000, C=1.0))
    clf.fit(xtr, ytr)
    return float((clf.predict(xte) == yte).mean())


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("files", nargs="+")
    ap.add_argument("--steps", type=int, default=50, help="time bins of the binned baseline")
    a = ap.parse_args()
    rows = []
    for f in a.files:
        t, c, o, y, nc, dur = load(f)
        counts, binned = features(t, c, o, nc, dur, a.steps)
        row = {"file": f, "samples": len(y), "count_lr": accuracy(counts, y, 0),
               "binned_lr": accuracy(binned, y, 0), "chance": 1.0 / len(np.unique(y))}
        rows.append(row)
        print(json.dumps(row))
    for key in ("count_lr", "binned_lr"):
        v = 100 * np.array([r[key] for r in rows])
        print(f"{key}: {v.mean():.1f} ± {v.std(ddof=1) if len(v) > 1 else 0.0:.1f} % over {len(v)} files")


if __name__ == "__main__":
    main()
