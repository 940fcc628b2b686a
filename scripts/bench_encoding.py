#!/usr/bin/env python3
"""LCA encoding against SPAMS (and optionally scikit-learn) on natural-image LASSO
problems, all in one run: throughput, mean relative objective gap, and the ratio
to SPAMS on the acceptance problems of issue #6 (8x8 patches / 128 atoms and
16x16 / 512, lambda = 0.1, 10,000 unit-norm patches, 2 threads).

Each problem is solved by `scripts/compare_lasso.py` (which builds and caches the
problem, times SPAMS's `lasso` (LARS, mode 2) on its solver call and `lca encode`
both by its own solve time and as a whole process, and measures the gaps); this
script runs it per problem and prints one summary table plus a rough roofline.

    cargo build --release
    python3 scripts/bench_encoding.py                        # the two acceptance problems
    python3 scripts/bench_encoding.py --lambdas 0.05,0.1,0.2,0.4 --problems 8:128
    python3 scripts/bench_encoding.py --problems 8:64,8:128,8:256,16:512 --json out.json

Exit status 2 if `--goal` is given and lca's solve throughput is below goal x SPAMS
on any problem, or if any mean gap exceeds 1e-3.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
PEAK_GFLOPS = 340.0  # f32, 2 cores with AVX-512 (see BENCHMARKS.md)


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--problems", default="8:128,16:512",
                    help="comma-separated PATCH:ATOMS problems (default: the acceptance pair)")
    ap.add_argument("--lambdas", default="0.1", help="comma-separated lambda values")
    ap.add_argument("--n", type=int, default=10000, help="test signals per problem")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3, help="timed runs per solver (best is kept)")
    ap.add_argument("--sklearn", action="store_true", help="also time scikit-learn (slow)")
    ap.add_argument("--lca", default="target/release/lca")
    ap.add_argument("--lca-args", default="", help="extra flags for `lca encode`")
    ap.add_argument("--goal", type=float, default=None, help="required lca/SPAMS solve-throughput ratio")
    ap.add_argument("--json", type=Path, default=None, help="also write every report to this file")
    return ap.parse_args(argv)


def run_one(args, patch: int, atoms: int, lam: float) -> dict:
    cmd = [sys.executable, str(HERE / "compare_lasso.py"), "--patch", str(patch), "--atoms", str(atoms),
           "--n", str(args.n), "--lam", repr(lam), "--threads", str(args.threads),
           "--repeats", str(args.repeats), "--lca", args.lca, "--json"]
    if not args.sklearn:
        cmd.append("--skip-sklearn")
    if args.lca_args:
        cmd += ["--lca-args", args.lca_args]
    print(f"[bench] {patch}x{patch} patches, {atoms} atoms, lambda={lam} ...", file=sys.stderr, flush=True)
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode not in (0, 2):
        sys.stderr.write(proc.stderr[-4000:])
        raise SystemExit(f"compare_lasso.py failed with status {proc.returncode}")
    return json.loads(proc.stdout)


def flops_per_signal(n_features: int, n_atoms: int, active: float, jumps: float) -> float:
    """Useful work of the default solver, estimated: the drive (a GEMM) plus, per jump,
    one sparse inhibition pass over the support (which grows from 0 to `active`, so
    ~active/2 columns on average) and one triangular solve pair."""
    mean_support = active / 2.0
    per_jump = 2.0 * n_atoms * mean_support + 2.0 * mean_support ** 2
    return 2.0 * n_features * n_atoms + jumps * per_jump


def main(argv=None) -> int:
    args = parse_args(argv)
    problems = [tuple(int(v) for v in p.split(":")) for p in args.problems.split(",")]
    lambdas = [float(v) for v in args.lambdas.split(",")]
    reports = []
    for patch, atoms in problems:
        for lam in lambdas:
            reports.append(run_one(args, patch, atoms, lam))

    hdr = (f"{'problem':<12}{'lambda':>7}{'SPAMS/s':>10}{'lca solve/s':>13}{'lca proc/s':>12}"
           f"{'solve x':>9}{'proc x':>8}{'gap SPAMS':>11}{'gap lca':>10}{'active':>8}{'jumps':>7}{'GFLOP/s':>9}{'% peak':>8}")
    print()
    print(hdr)
    print("-" * len(hdr))
    status = 0
    for r in reports:
        p, s = r["problem"], r["solvers"]
        spams, lca = s["spams"], s["lca"]
        solve = lca.get("binary_signals_per_second") or lca["signals_per_second"]
        summary = lca.get("summary") or {}
        jumps = float(summary.get("jumps", 0.0))
        gflops = flops_per_signal(p["n_features"], p["n_atoms"], lca["mean_active"], jumps) * solve / 1e9
        ratio = solve / spams["signals_per_second"]
        side = int(round(p["n_features"] ** 0.5))
        name = f"{side}x{side}/{p['n_atoms']}"
        print(f"{name:<12}{r['lam']:>7.3g}{spams['signals_per_second']:>10.0f}"
              f"{solve:>13.0f}{lca['signals_per_second']:>12.0f}{ratio:>8.2f}x"
              f"{lca['signals_per_second'] / spams['signals_per_second']:>7.2f}x"
              f"{spams['mean_rel_gap']:>11.1e}{lca['mean_rel_gap']:>10.1e}{lca['mean_active']:>8.2f}"
              f"{jumps:>7.2f}{gflops:>9.1f}{100 * gflops / PEAK_GFLOPS:>7.1f}%")
        if lca["mean_rel_gap"] > 1e-3 or (args.goal is not None and ratio < args.goal):
            status = 2
    print()
    print("solve x: lca's own solve time (data in memory -> codes in memory, as SPAMS's call) vs SPAMS;")
    print("proc x: the whole `lca encode` process (start-up, .npy read and write, summary) vs SPAMS's call.")
    print(f"gap = (objective - best exact) / best exact, mean over signals; {args.threads} threads, "
          f"best of {args.repeats}; GFLOP/s is the estimated useful work (see flops_per_signal) at lca's "
          f"solve rate, against the {PEAK_GFLOPS:.0f} GFLOP/s f32 peak.")
    if args.json is not None:
        args.json.write_text(json.dumps(reports, indent=2))
    return status


if __name__ == "__main__":
    sys.exit(main())
