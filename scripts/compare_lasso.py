#!/usr/bin/env python3
"""Accuracy / throughput comparison of `lca encode` against exact LASSO solvers.

Requirements: Python >= 3.10, numpy, scipy, scikit-learn, pillow (`pip install pillow`),
spams (`pip install spams-bin`, import name `spams`); the lca binary
(`cargo build --release` -> target/release/lca).

    python3 scripts/compare_lasso.py --patch 8 --atoms 128 --lam 0.1 --n 10000 \
        [--lca target/release/lca] [--threads 2] [--nonneg] [--lca-args "--max-iters 500 --tol 1e-5"] \
        [--repeats 3] [--json] [--skip-lca] [--out DIR] [--peer-dtype float64|float32]

Every solver minimises, per sample x (row of X) and code a (row of A),

    1/2 ||x - D^T a||_2^2 + lam ||a||_1          (a >= 0 with --nonneg)

with D (n_atoms, n_features) from scripts/lasso_problem.py (made or reused from cache).

* SPAMS `spams.lasso(..., mode=2, lambda1=lam)` (LARS/homotopy, exact). SPAMS mode=2
  uses the penalty lambda1 as is (not lambda1^2); the script checks this at run time
  (median |D(x - D^T a)| over active atoms divided by lam is 1) and prints the max KKT violation.
* scikit-learn `sparse_encode(X, D, algorithm='lasso_cd', alpha=lam)` (coordinate descent).
  Internally Lasso gets alpha/n_features with a 1/(2 n_features) data term, so alpha=lam
  is exactly the objective above (no rescaling needed; also checked at run time).
* `lca encode --dictionary D.npy --input X.npy --lambda LAM --output A.npy --threads T
  --quiet --json [--nonneg] [extra]`; the JSON summary on stdout must hold at least
  mean_energy, mean_active, iterations, seconds, signals_per_second.

Per-sample objectives are evaluated in float64 on the float32 D and X that lca sees;
the reference is the per-sample min over the exact solvers. Reported: mean / p99 / max
relative gap (obj - ref) / ref, mean active atoms, max KKT violation, best-of-repeats
wall-clock time and signals/s (peers: solver call only; lca: whole process and the
binary's own `seconds`). BLAS/OpenMP pools are pinned to --threads (env vars set before
numpy is imported), SPAMS gets numThreads=--threads, scikit-learn n_jobs=--threads.

Exit status: 0 ok; 1 lca binary missing or failing; 2 --max-mean-gap exceeded.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
REPO_ROOT = HERE.parent


def parse_args(argv=None):
    ap = argparse.ArgumentParser(
        description="Compare lca encode against SPAMS and scikit-learn on a natural-image LASSO problem.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    # Problem arguments (mirrors lasso_problem.py; defined here so numpy is not imported yet).
    ap.add_argument("--patch", type=int, default=8, help="patch side P (n_features = P*P)")
    ap.add_argument("--atoms", type=int, default=128, help="number of dictionary atoms")
    ap.add_argument("--n", type=int, default=10000, help="number of test signals")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=None,
                    help="problem directory (default: out/lasso/p{P}_a{K}_n{N}_s{seed})")
    ap.add_argument("--images", type=Path, default=Path("/work/shared/data/images"))
    ap.add_argument("--train-images", default="camera,astronaut,coffee,chelsea")
    ap.add_argument("--test-images", default="rocket,grass,gravel,brick")
    ap.add_argument("--min-rms", type=float, default=0.01)
    ap.add_argument("--dl-alpha", type=float, default=0.1)
    ap.add_argument("--dl-steps", type=int, default=400)
    ap.add_argument("--dl-batch", type=int, default=256)
    ap.add_argument("--force", action="store_true", help="regenerate the problem even if cached")
    # Comparison arguments.
    ap.add_argument("--lam", type=float, default=0.1, help="L1 penalty lambda")
    ap.add_argument("--nonneg", action="store_true", help="non-negative LASSO (a >= 0)")
    ap.add_argument("--lca", default="target/release/lca",
                    help="lca binary (relative paths are tried from the cwd, then the repo root)")
    ap.add_argument("--lca-args", default="", help="extra flags appended to `lca encode` (one string)")
    ap.add_argument("--lca-output", type=Path, default=None, help="where lca writes A (default: DIR/A_lca.npy)")
    ap.add_argument("--skip-lca", action="store_true", help="only run the exact peers")
    ap.add_argument("--skip-sklearn", action="store_true", help="do not run scikit-learn (SPAMS only)")
    ap.add_argument("--threads", type=int, default=2, help="threads for every solver")
    ap.add_argument("--repeats", type=int, default=3, help="timed runs per solver (best is reported)")
    ap.add_argument("--peer-dtype", choices=("float64", "float32"), default="float64",
                    help="floating type given to SPAMS / scikit-learn")
    ap.add_argument("--sklearn-max-iter", type=int, default=1000)
    ap.add_argument("--max-mean-gap", type=float, default=None,
                    help="exit 2 if lca's mean relative objective gap exceeds this")
    ap.add_argument("--json", action="store_true", help="print one JSON object on stdout (logs go to stderr)")
    args = ap.parse_args(argv)
    if args.threads < 1 or args.repeats < 1:
        ap.error("--threads and --repeats must be >= 1")
    return args


def resolve_lca(path: str) -> Path | None:
    p = Path(path)
    cands = [p] if p.is_absolute() else [Path.cwd() / p, REPO_ROOT / p]
    for c in cands:
        if c.is_file() and os.access(c, os.X_OK):
            return c.resolve()
    return None


def parse_summary(stdout: str) -> dict:
    """The JSON summary: the whole stdout, or else its last line that parses as an object."""
    s = stdout.strip()
    try:
        obj = json.loads(s)
        if isinstance(obj, dict):
            return obj
    except json.JSONDecodeError:
        pass
    for line in reversed(s.splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                obj = json.loads(line)
                if isinstance(obj, dict):
                    return obj
            except json.JSONDecodeError:
                continue
    raise ValueError("no JSON object found in lca stdout:\n" + stdout[-2000:])


def _json_safe(o):
    """Strict JSON: numpy scalars -> Python, NaN/inf -> null."""
    if isinstance(o, dict):
        return {str(k): _json_safe(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_json_safe(v) for v in o]
    if hasattr(o, "item") and not isinstance(o, (str, bytes)):
        o = o.item()
    if isinstance(o, float) and (o != o or o in (float("inf"), float("-inf"))):
        return None
    return o


def main(argv=None) -> int:
    args = parse_args(argv)
    log = (lambda *a: print(*a, file=sys.stderr, flush=True)) if args.json else (lambda *a: print(*a, flush=True))

    lca_bin = None
    if not args.skip_lca:
        lca_bin = resolve_lca(args.lca)
        if lca_bin is None:
            print(
                f"error: lca binary not found at {args.lca!r} (tried cwd and {REPO_ROOT}).\n"
                f"       Build it first:  cargo build --release   (or pass --lca PATH, or --skip-lca)",
                file=sys.stderr,
            )
            return 1

    # Pin BLAS/OpenMP thread pools BEFORE numpy (imported by lasso_common) is loaded.
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS",
                "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS"):
        os.environ[var] = str(args.threads)
    assert "numpy" not in sys.modules, "numpy imported before thread env was set"
    import numpy as np

    import lasso_common as lc

    dpath, xpath, info = lc.problem_from_args(args, log=log)
    D = np.load(dpath)  # float32 (n_atoms, n_features)
    X = np.load(xpath)  # float32 (n_samples, n_features)
    n, nf = X.shape
    K = D.shape[0]
    lam = float(args.lam)
    dtype = np.float64 if args.peer_dtype == "float64" else np.float32
    log(f"[compare] problem {dpath.parent}: X {X.shape}, D {D.shape}, lam={lam}, nonneg={args.nonneg}, "
        f"threads={args.threads}, repeats={args.repeats}")

    codes: dict[str, np.ndarray] = {}
    results: dict[str, dict] = {}

    def timed_peer(name, fn):
        best = float("inf")
        A = None
        for r in range(args.repeats):
            A, dt = fn()
            best = min(best, dt)
            log(f"[compare] {name} run {r + 1}/{args.repeats}: {dt:.3f} s")
        codes[name] = A
        results[name] = {"seconds": best, "signals_per_second": n / best}

    timed_peer("spams", lambda: lc.solve_spams(X, D, lam, args.threads, args.nonneg, dtype=dtype))
    if not args.skip_sklearn:
        timed_peer(
            "sklearn",
            lambda: lc.solve_sklearn(X, D, lam, args.threads, args.nonneg, args.sklearn_max_iter, dtype=dtype),
        )

    exact = list(codes)
    obj = {k: lc.objectives(X, D, A, lam) for k, A in codes.items()}
    ref = np.min(np.stack([obj[k] for k in exact]), axis=0)
    ref_solver = np.array(exact)[np.argmin(np.stack([obj[k] for k in exact]), axis=0)]

    # ---- lca -------------------------------------------------------------------------
    lca_summary = None
    if lca_bin is not None:
        out_a = args.lca_output if args.lca_output is not None else dpath.parent / "A_lca.npy"
        out_a = Path(out_a).resolve()
        cmd = [str(lca_bin), "encode", "--dictionary", str(dpath.resolve()), "--input", str(xpath.resolve()),
               "--lambda", repr(lam), "--output", str(out_a), "--threads", str(args.threads), "--quiet", "--json"]
        if args.nonneg:
            cmd.append("--nonneg")
        cmd += shlex.split(args.lca_args)
        log("[compare] " + " ".join(shlex.quote(c) for c in cmd))
        env = dict(os.environ, RAYON_NUM_THREADS=str(args.threads))
        best_wall, best_bin, best_sps = float("inf"), float("inf"), 0.0
        for r in range(args.repeats):
            if out_a.exists():
                out_a.unlink()
            t0 = time.perf_counter()
            proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
            wall = time.perf_counter() - t0
            if proc.returncode != 0:
                print(f"error: lca exited with status {proc.returncode}\n--- stderr ---\n{proc.stderr[-4000:]}"
                      f"\n--- stdout ---\n{proc.stdout[-2000:]}", file=sys.stderr)
                return 1
            try:
                summ = parse_summary(proc.stdout)
            except ValueError as e:
                print(f"error: {e}", file=sys.stderr)
                return 1
            missing = [k for k in ("mean_energy", "mean_active", "iterations", "seconds", "signals_per_second")
                       if k not in summ]
            if missing:
                log(f"[compare] WARNING: lca JSON summary lacks keys {missing}")
            log(f"[compare] lca run {r + 1}/{args.repeats}: wall {wall:.3f} s, binary seconds "
                f"{summ.get('seconds')}, signals/s {summ.get('signals_per_second')}")
            best_wall = min(best_wall, wall)
            if isinstance(summ.get("seconds"), (int, float)):
                best_bin = min(best_bin, float(summ["seconds"]))
            if isinstance(summ.get("signals_per_second"), (int, float)):
                best_sps = max(best_sps, float(summ["signals_per_second"]))
            lca_summary = summ
        if not out_a.is_file():
            print(f"error: lca did not write {out_a}", file=sys.stderr)
            return 1
        A = np.load(out_a)
        if A.shape != (n, K):
            print(f"error: lca output {out_a} has shape {A.shape}, expected {(n, K)}", file=sys.stderr)
            return 1
        if A.dtype != np.float32:
            log(f"[compare] WARNING: lca output dtype is {A.dtype}, expected float32")
        if not np.all(np.isfinite(A)):
            print("error: lca output contains non-finite values", file=sys.stderr)
            return 1
        codes["lca"] = A.astype(np.float64)
        obj["lca"] = lc.objectives(X, D, codes["lca"], lam)
        results["lca"] = {
            "seconds": best_wall,  # whole process: start-up, .npy I/O, encode
            "signals_per_second": n / best_wall,
            "binary_seconds": best_bin if np.isfinite(best_bin) else None,
            "binary_signals_per_second": best_sps or None,
            "summary": lca_summary,
        }

    # ---- accuracy figures ------------------------------------------------------------
    for k, A in codes.items():
        gap = (obj[k] - ref) / ref
        kkt = lc.kkt_violation(X, D, A, lam, args.nonneg)
        results[k].update(
            mean_objective=float(obj[k].mean()),
            mean_rel_gap=float(gap.mean()),
            median_rel_gap=float(np.median(gap)),
            p99_rel_gap=float(np.quantile(gap, 0.99)),
            max_rel_gap=float(gap.max()),
            frac_gap_gt_1e3=float(np.mean(gap > 1e-3)),
            mean_active=float((A != 0).sum(axis=1).mean()),
            max_kkt=float(kkt.max()),
            mean_kkt=float(kkt.mean()),
            active_grad_over_lam=lc.active_gradient_ratio(X, D, A, lam),
        )
        if args.nonneg:
            results[k]["min_coef"] = float(A.min())
    if "lca" in results and isinstance((lca_summary or {}).get("mean_energy"), (int, float)):
        e = float(lca_summary["mean_energy"])
        results["lca"]["mean_energy_reported"] = e
        results["lca"]["mean_energy_rel_diff"] = (e - results["lca"]["mean_objective"]) / results["lca"][
            "mean_objective"]

    agree = None
    if "spams" in codes and "sklearn" in codes:
        d = (obj["sklearn"] - obj["spams"]) / np.minimum(obj["sklearn"], obj["spams"])
        agree = {
            "mean_rel_obj_diff": float(np.abs(d).mean()),
            "max_rel_obj_diff": float(np.abs(d).max()),
            "max_abs_coef_diff": float(np.abs(codes["sklearn"] - codes["spams"]).max()),
            "support_mismatch_frac": float(np.mean((codes["sklearn"] != 0) != (codes["spams"] != 0))),
            "ref_from_spams_frac": float(np.mean(ref_solver == "spams")),
        }

    report = {
        "problem": {"dir": str(dpath.parent), "n_samples": n, "n_features": nf, "n_atoms": K,
                    "settings": info.get("settings"), "generation_seconds": info.get("generation_seconds")},
        "lam": lam,
        "nonneg": bool(args.nonneg),
        "threads": args.threads,
        "repeats": args.repeats,
        "peer_dtype": args.peer_dtype,
        "mean_ref_objective": float(ref.mean()),
        "solvers": results,
        "exact_agreement": agree,
    }

    status = 0
    if args.max_mean_gap is not None and "lca" in results and results["lca"]["mean_rel_gap"] > args.max_mean_gap:
        log(f"[compare] FAIL: lca mean relative gap {results['lca']['mean_rel_gap']:.3g} > {args.max_mean_gap}")
        status = 2

    if args.json:
        print(json.dumps(_json_safe(report), indent=2, allow_nan=False))
        return status

    # ---- human-readable table --------------------------------------------------------
    print()
    print(f"LASSO {n} signals x {nf} features, {K} atoms, lam={lam}{', nonneg' if args.nonneg else ''}, "
          f"threads={args.threads}, best of {args.repeats}; mean ref objective {ref.mean():.6f}")
    hdr = (f"{'solver':<10}{'signals/s':>12}{'seconds':>10}{'mean gap':>11}{'p99 gap':>11}{'max gap':>11}"
           f"{'active':>9}{'max KKT':>11}{'|g|/lam':>9}")
    print(hdr)
    print("-" * len(hdr))
    for k, r in results.items():
        print(f"{k:<10}{r['signals_per_second']:>12.0f}{r['seconds']:>10.3f}{r['mean_rel_gap']:>11.2e}"
              f"{r['p99_rel_gap']:>11.2e}{r['max_rel_gap']:>11.2e}{r['mean_active']:>9.2f}{r['max_kkt']:>11.2e}"
              f"{r['active_grad_over_lam']:>9.4f}")
    if "lca" in results:
        r = results["lca"]
        bs = r.get("binary_seconds")
        bsps = r.get("binary_signals_per_second")
        print(f"lca (binary's own timing): seconds={bs}, signals/s={bsps}; "
              f"iterations={(r['summary'] or {}).get('iterations')}, "
              f"reported mean_energy={r.get('mean_energy_reported')} "
              f"(rel diff to ours {r.get('mean_energy_rel_diff', float('nan')):.2e}), "
              f"reported mean_active={(r['summary'] or {}).get('mean_active')}")
    if agree:
        print(f"spams vs sklearn: mean |rel obj diff| {agree['mean_rel_obj_diff']:.2e}, "
              f"max {agree['max_rel_obj_diff']:.2e}, max |coef diff| {agree['max_abs_coef_diff']:.2e}, "
              f"support mismatch {agree['support_mismatch_frac']:.2e}")
    print(f"spams KKT: max violation {results['spams']['max_kkt']:.2e} (lam={lam}); "
          f"median |g_active|/lam = {results['spams']['active_grad_over_lam']:.6f} "
          f"(1 => penalty is lam, not lam^2)")
    print("gap = (obj - ref)/ref per sample, ref = min over exact solvers; peers timed on the solver call, "
          "lca on the whole process")
    return status


if __name__ == "__main__":
    sys.exit(main())
