#!/usr/bin/env python3
"""Spiking LCA (float and Loihi-style fixed point) against the rate LCA and the exact LASSO.

Requirements: Python >= 3.10, numpy, spams (`pip install spams-bin`); the lca binary
(`cargo build --release` -> target/release/lca).

    python3 scripts/compare_spiking.py --dir /tmp/prob8 [--signed] [--lam 0.1] [--threads 2] \
        [--steps 64,128,256,512,1024] [--repeats 3] [--lca target/release/lca] [--json]

Without --dir the natural-image problem of compare_lasso.py is made or reused
(same --patch/--atoms/--n/... options). All runs solve, per sample x (row of X),

    1/2 ||x - D^T a||^2 + lam ||a||_1        (a >= 0 unless --signed)

and are scored against SPAMS (LARS, exact): mean / p99 relative objective gap
(obj - ref)/ref, and reconstruction PSNR = 10 log10(peak^2 / MSE) with MSE over all
pixels of X - A D and peak = max(X) - min(X) (differences in dB do not depend on peak).
Reported per run: spikes per signal, steps, signals/s (the binary's own encode time,
best of --repeats; the fixed-point run's float reference is not included), and for the
fixed-point runs the relative code error and PSNR difference against float spiking at
the same number of steps. "steps needed" is the fewest steps of the sweep whose mean gap
is <= --target-gap and whose PSNR is within 1 dB of the rate LCA.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
REPO_ROOT = HERE.parent


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    ap.add_argument("--dir", type=Path, default=None, help="problem directory holding D.npy and X.npy")
    ap.add_argument("--patch", type=int, default=8)
    ap.add_argument("--atoms", type=int, default=128)
    ap.add_argument("--n", type=int, default=10000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--lam", type=float, default=0.1)
    ap.add_argument("--signed", action="store_true", help="signed codes (ON/OFF pairs) instead of a >= 0")
    ap.add_argument("--steps", default="64,128,256,512,1024", help="comma-separated step counts to sweep")
    ap.add_argument("--lca-args", default="", help="extra flags for every spiking run")
    ap.add_argument("--lca", default="target/release/lca")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--target-gap", type=float, default=1e-2)
    ap.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    return ap.parse_args(argv)


def resolve(path: str) -> Path | None:
    p = Path(path)
    for c in ([p] if p.is_absolute() else [Path.cwd() / p, REPO_ROOT / p]):
        if c.is_file() and os.access(c, os.X_OK):
            return c.resolve()
    return None


def main(argv=None) -> int:
    args = parse_args(argv)
    log = (lambda *a: print(*a, file=sys.stderr, flush=True)) if args.json else print
    lca = resolve(args.lca)
    if lca is None:
        print(f"error: lca binary not found at {args.lca!r}; run cargo build --release", file=sys.stderr)
        return 1
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(args.threads)
    import numpy as np

    import lasso_common as lc

    if args.dir is not None:
        dpath, xpath = args.dir / "D.npy", args.dir / "X.npy"
    else:
        pa = argparse.Namespace(out=None, images=Path("/work/shared/data/images"),
                                train_images="camera,astronaut,coffee,chelsea",
                                test_images="rocket,grass,gravel,brick", min_rms=0.01, dl_alpha=0.1,
                                dl_steps=400, dl_batch=256, force=False, patch=args.patch,
                                atoms=args.atoms, n=args.n, seed=args.seed)
        dpath, xpath, _ = lc.problem_from_args(pa, log=log)
    D = np.load(dpath).astype(np.float64)
    X = np.load(xpath).astype(np.float64)
    n = X.shape[0]
    nonneg = not args.signed
    lam = args.lam
    peak = float(X.max() - X.min())

    ref_A, _ = lc.solve_spams(X, D, lam, args.threads, nonneg)
    ref = lc.objectives(X, D, ref_A, lam)

    def psnr(A):
        mse = float(np.mean((X - A @ D) ** 2))
        return 10 * np.log10(peak ** 2 / mse)

    def score(A):
        obj = lc.objectives(X, D, A, lam)
        gap = (obj - ref) / ref
        return {"mean_gap": float(gap.mean()), "p99_gap": float(np.quantile(gap, 0.99)),
                "max_gap": float(gap.max()), "psnr": psnr(A), "mean_active": float((A != 0).sum(1).mean())}

    tmp = Path(tempfile.mkdtemp(prefix="compare_spiking_"))
    out = tmp / "A.npy"
    env = dict(os.environ, RAYON_NUM_THREADS=str(args.threads))

    def run(flags):
        cmd = [str(lca), "encode", "-d", str(dpath), "-i", str(xpath), "-o", str(out), "--lambda", repr(lam),
               "--threads", str(args.threads), "--quiet", "--json"] + (["--nonneg"] if nonneg else []) + flags
        log("[spiking] " + " ".join(shlex.quote(c) for c in cmd))
        best = None
        for _ in range(args.repeats):
            proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
            if proc.returncode != 0:
                raise SystemExit(f"error: lca failed ({proc.returncode}): {proc.stderr.strip()}")
            summ = json.loads(proc.stdout.strip().splitlines()[-1])
            if best is None or summ["seconds"] < best["seconds"]:
                best = summ
        return best, np.load(out).astype(np.float64)

    rows = []
    summ, A_rate = run([])
    rate = {"solver": "rate", "steps": summ["iterations"], "spikes_per_signal": None,
            "signals_per_second": summ["signals_per_second"], **score(A_rate)}
    rows.append(rate)
    extra = shlex.split(args.lca_args)
    floats = {}
    for steps in [int(s) for s in args.steps.split(",") if s.strip()]:
        for fixed in (False, True):
            flags = ["--mode", "spiking", "--steps", str(steps)] + (["--fixed-point"] if fixed else []) + extra
            summ, A = run(flags)
            row = {"solver": "fixed-point" if fixed else "spiking", "steps": steps,
                   "spikes_per_signal": summ["spikes_per_signal"],
                   "signals_per_second": summ["signals_per_second"], "saturated": summ["saturated"], **score(A)}
            row["psnr_vs_rate"] = row["psnr"] - rate["psnr"]
            if fixed:
                row["psnr_vs_float"] = row["psnr"] - floats[steps]["psnr"]
                row["rel_code_error_vs_float"] = summ["vs_float"]["rel_code_error"]
            else:
                floats[steps] = row
            rows.append(row)

    needed = {}
    for mode in ("spiking", "fixed-point"):
        ok = [r["steps"] for r in rows if r["solver"] == mode and r["mean_gap"] <= args.target_gap
              and abs(r["psnr_vs_rate"]) <= 1.0]
        needed[mode] = min(ok) if ok else None

    report = {"problem": str(dpath.parent), "n_signals": n, "n_atoms": D.shape[0], "lam": lam,
              "nonneg": nonneg, "threads": args.threads, "psnr_peak": peak, "psnr_exact": psnr(ref_A),
              "target_gap": args.target_gap, "steps_needed": needed, "runs": rows}
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"\n{n} signals, {D.shape[0]} atoms, lam={lam}, {'nonneg' if nonneg else 'signed'}, "
          f"{args.threads} threads; exact (SPAMS) PSNR {psnr(ref_A):.2f} dB")
    hdr = (f"{'solver':<12}{'steps':>6}{'spikes/sig':>11}{'signals/s':>11}{'mean gap':>10}{'p99 gap':>10}"
           f"{'PSNR':>7}{'dB-rate':>8}{'dB-float':>9}{'code err':>9}")
    print(hdr)
    print("-" * len(hdr))
    for r in rows:
        sp = "" if r["spikes_per_signal"] is None else f"{r['spikes_per_signal']:.0f}"
        dr = "" if "psnr_vs_rate" not in r else f"{r['psnr_vs_rate']:+.3f}"
        df = "" if "psnr_vs_float" not in r else f"{r['psnr_vs_float']:+.3f}"
        ce = "" if "rel_code_error_vs_float" not in r else f"{r['rel_code_error_vs_float']:.3f}"
        print(f"{r['solver']:<12}{r['steps']:>6.0f}{sp:>11}{r['signals_per_second']:>11.0f}{r['mean_gap']:>10.2e}"
              f"{r['p99_gap']:>10.2e}{r['psnr']:>7.2f}{dr:>8}{df:>9}{ce:>9}")
    print(f"steps needed (mean gap <= {args.target_gap:g}, PSNR within 1 dB of rate): {needed}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
