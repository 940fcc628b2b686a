#!/usr/bin/env python3
"""Build a realistic LASSO / sparse-coding problem from natural images.

Requirements: Python >= 3.10, numpy, scikit-learn, pillow (`pip install pillow`).

    python3 scripts/lasso_problem.py --patch 8 --atoms 128 --n 10000 --seed 0 --out DIR \
        [--images /work/shared/data/images] [--train-images camera,astronaut,coffee,chelsea] \
        [--test-images rocket,grass,gravel,brick] [--dl-steps 400] [--force]

* images are converted to grayscale in [0, 1];
* random PxP patches (reproducible from --seed) are mean-removed and scaled to unit
  L2 norm; patches with per-pixel RMS contrast < --min-rms (default 0.01) before
  normalisation are skipped;
* a dictionary of --atoms atoms is learned with scikit-learn MiniBatchDictionaryLearning
  (alpha=--dl-alpha, one pass over --dl-steps * --dl-batch training patches from the
  training images, random_state=--seed), rows normalised to unit L2 norm;
* the signals X are --n patches from the held-out test images.

Outputs DIR/D.npy (float32, (n_atoms, n_features), scikit-learn components_ layout),
DIR/X.npy (float32, (n_samples, n_features)) and DIR/settings.json. If the files exist
and settings.json matches the requested settings, nothing is recomputed.

Timings on 2 CPU cores: 8x8/128 about 25 s, 16x16/512 about 2 min.
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    import lasso_common as lc

    lc.add_problem_args(ap, with_out=True)
    ap.add_argument("--print-path", action="store_true", help="print only the problem directory on stdout")
    args = ap.parse_args(argv)
    log = (lambda *a, **k: print(*a, file=sys.stderr, **k)) if args.print_path else print
    dpath, _, info = lc.problem_from_args(args, log=log)
    if args.print_path:
        print(dpath.parent)
    else:
        print(f"[problem] D.npy, X.npy in {dpath.parent} (generation took {info.get('generation_seconds')} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
