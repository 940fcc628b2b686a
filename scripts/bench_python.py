#!/usr/bin/env python3
"""The Python package against the CLI and SPAMS on the natural-image LASSO problems
of scripts/bench_encoding.py (8x8 patches / 128 atoms and 16x16 / 512, lambda = 0.1,
10,000 unit-norm test patches, 2 threads), all in one run, interleaved, best of 3:

* `lca.sparse_encode(X, D, lam, n_jobs=T)` timed around the whole call (numpy in,
  numpy out: input hand-over, solve, output);
* `lca encode ... --threads T --json`: its own `seconds` (the solve alone, the
  figure `bench_encoding.py` reports as "lca solve/s");
* SPAMS `lasso(mode=2, lambda1=lam)` timed on its call (as compare_lasso.py).

Reports throughputs, ratios, the mean relative objective gap of lca.sparse_encode
against SPAMS ((obj - obj_spams) / obj_spams, averaged over signals), and whether
the Python codes equal the CLI's bit for bit.

    cargo build --release && pip install .        # or maturin develop --release
    python3 scripts/bench_python.py [--problems 8:128,16:512] [--threads 2] [--repeats 3] [--json out.json]

Exit status 2 if a mean gap exceeds 1e-3, Python is below 0.9x the CLI's solve
throughput, or below 2x SPAMS.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


def lca_problem(lc, lca, np, patch: int, atoms: int, n: int):
    """The problem of bench_encoding.py (same images, seeds and patch sampling) with
    the dictionary learned by lca.DictionaryLearning instead of scikit-learn."""
    out = HERE.parent / "out" / "lasso-lca" / f"p{patch}_a{atoms}_n{n}_s0"
    dpath, xpath = out / "D.npy", out / "X.npy"
    if dpath.is_file() and xpath.is_file():
        return dpath, xpath
    out.mkdir(parents=True, exist_ok=True)
    train = [lc.load_gray(lc.find_image(lc.DEFAULT_IMAGE_DIR, s)) for s in lc.DEFAULT_TRAIN]
    test = [lc.load_gray(lc.find_image(lc.DEFAULT_IMAGE_DIR, s)) for s in lc.DEFAULT_TEST]
    ss_train, ss_test = np.random.SeedSequence(0).spawn(2)
    Xtr = lc.sample_patches(train, patch, 400 * 256, np.random.default_rng(ss_train), 0.01).astype(np.float32)
    X = lc.sample_patches(test, patch, n, np.random.default_rng(ss_test), 0.01).astype(np.float32)
    est = lca.DictionaryLearning(n_components=atoms, alpha=0.1, n_steps=400, batch_size=256, rule="online",
                                 random_state=0).fit(Xtr)
    np.save(dpath, est.components_)
    np.save(xpath, X)
    return dpath, xpath


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--problems", default="8:128,16:512")
    ap.add_argument("--lam", type=float, default=0.1)
    ap.add_argument("--n", type=int, default=10000)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--lca", default=str(HERE.parent / "target" / "release" / "lca"))
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--dictionary-learner", choices=["sklearn", "lca"], default="sklearn",
                    help="how the problem's dictionary is learned from the training images' patches: "
                         "scikit-learn MiniBatchDictionaryLearning (the problem of bench_encoding.py, cached in "
                         "out/lasso/; 16x16/512 takes minutes on a quiet machine) or lca.DictionaryLearning "
                         "(400 steps of 256 patches, alpha 0.1, online rule; seconds), cached in out/lasso-lca/")
    args = ap.parse_args(argv)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS"):
        os.environ[var] = str(args.threads)
    import numpy as np

    import lasso_common as lc
    import lca

    reports = []
    status = 0
    for spec in args.problems.split(","):
        patch, atoms = (int(v) for v in spec.split(":"))
        pa = argparse.Namespace(patch=patch, atoms=atoms, n=args.n, seed=0, out=None, images=lc.DEFAULT_IMAGE_DIR,
                                train_images=",".join(lc.DEFAULT_TRAIN), test_images=",".join(lc.DEFAULT_TEST),
                                min_rms=0.01, dl_alpha=0.1, dl_steps=400, dl_batch=256, force=False)
        if args.dictionary_learner == "sklearn":
            dpath, xpath, _ = lc.problem_from_args(pa, log=lambda *a: print(*a, file=sys.stderr))
        else:
            dpath, xpath = lca_problem(lc, lca, np, patch, atoms, args.n)
        D, X = np.load(dpath), np.load(xpath)
        lam, n = args.lam, X.shape[0]
        times = {"python": [], "cli": [], "spams": []}
        A_py = A_cli = A_spams = None
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "A.npy"
            cmd = [args.lca, "encode", "-d", str(dpath), "-i", str(xpath), "-o", str(out), "--lambda", repr(lam),
                   "--threads", str(args.threads), "--quiet", "--json"]
            for r in range(args.repeats):
                t0 = time.perf_counter()
                A_py = lca.sparse_encode(X, D, lam, n_jobs=args.threads)
                times["python"].append(time.perf_counter() - t0)
                proc = subprocess.run(cmd, capture_output=True, text=True,
                                      env=dict(os.environ, RAYON_NUM_THREADS=str(args.threads)))
                if proc.returncode != 0:
                    raise SystemExit(f"lca encode failed: {proc.stderr}")
                times["cli"].append(float(json.loads(proc.stdout)["seconds"]))
                A_cli = np.load(out)
                A_spams, dt = lc.solve_spams(X, D, lam, args.threads, False)
                times["spams"].append(dt)
                print(f"[bench] {patch}x{patch}/{atoms} run {r + 1}: python {times['python'][-1]:.3f} s, "
                      f"cli solve {times['cli'][-1]:.3f} s, spams {dt:.3f} s", file=sys.stderr)
        best = {k: min(v) for k, v in times.items()}
        rate = {k: n / v for k, v in best.items()}
        o_py = lc.objectives(X, D, A_py, lam)
        o_sp = lc.objectives(X, D, A_spams, lam)
        gap = (o_py - o_sp) / o_sp
        rep = {
            "problem": f"{patch}x{patch}/{atoms}", "lambda": lam, "n": n, "threads": args.threads,
            "signals_per_second": rate, "python_vs_cli": rate["python"] / rate["cli"],
            "python_vs_spams": rate["python"] / rate["spams"], "mean_rel_gap_vs_spams": float(gap.mean()),
            "max_rel_gap_vs_spams": float(gap.max()), "identical_to_cli": bool(np.array_equal(A_py, A_cli)),
            "mean_active": float((A_py != 0).sum(axis=1).mean()),
        }
        reports.append(rep)
        if rep["mean_rel_gap_vs_spams"] > 1e-3 or rep["python_vs_cli"] < 0.9 or rep["python_vs_spams"] < 2:
            status = 2
    hdr = (f"{'problem':<12}{'python/s':>10}{'CLI solve/s':>13}{'SPAMS/s':>10}{'py/CLI':>8}{'py/SPAMS':>10}"
           f"{'mean gap':>11}{'max gap':>10}{'= CLI':>7}")
    print(hdr)
    print("-" * len(hdr))
    for r in reports:
        s = r["signals_per_second"]
        print(f"{r['problem']:<12}{s['python']:>10.0f}{s['cli']:>13.0f}{s['spams']:>10.0f}{r['python_vs_cli']:>7.2f}x"
              f"{r['python_vs_spams']:>9.2f}x{r['mean_rel_gap_vs_spams']:>11.1e}{r['max_rel_gap_vs_spams']:>10.1e}"
              f"{'yes' if r['identical_to_cli'] else 'NO':>7}")
    print(f"\nbest of {args.repeats}, {args.threads} threads, interleaved; gap = (obj - obj_SPAMS) / obj_SPAMS "
          f"per signal (negative: lower objective than SPAMS).")
    if args.json is not None:
        args.json.write_text(json.dumps(reports, indent=2))
    return status


if __name__ == "__main__":
    sys.exit(main())
